"""Builds and caches: the image, its context, the Python tools, the reuse of passed tests and the files they
read, and the CloudFormation service role written from the templates."""
