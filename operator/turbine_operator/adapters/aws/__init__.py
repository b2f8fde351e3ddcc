"""The AWS adapter: boto3 sessions and clients, CloudFormation and S3, the stack's secrets and reports, worker
figures; botocore's failures mapped to domain errors in one place (aws_errors)."""
