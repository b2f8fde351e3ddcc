"""The pure core: models, naming, rendering, planning and conditions.

Nothing in this package performs I/O or imports boto3, botocore, kopf, kubernetes or
prometheus_client; import-linter enforces it (see pyproject.toml).
"""
