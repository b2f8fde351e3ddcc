"""The botocore-Stubber harness shared by tests/adapters and tests/operations.

`stubbed.aws` holds the recording stubber and realistic CloudFormation and S3 replies;
`stubbed.fixtures` holds the pytest fixtures that wrap one real AwsSessions' clients in stubbers.
"""
