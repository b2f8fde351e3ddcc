"""The pure core: models, naming, rendering, planning and conditions.

Nothing in this package performs I/O or imports boto3, botocore, kopf, kubernetes or
prometheus_client; import-linter enforces it (see pyproject.toml). Its domains, each importing only those
below it (also enforced): airflow, report, plan, render, access, observed, api; `errors` and `naming` serve
them all.
"""
