"""What AWS refuses and moto accepts, refused as AWS documents it: CloudFormation's tokens, statuses,
rollbacks and request limits, tags in instance metadata, IAM's evaluation of a request."""
