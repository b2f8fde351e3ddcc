"""Reports the scheduler instance writes to SSM parameters of its stack, read as JSON documents."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from turbine_operator.adapters.aws.aws_errors import aws_call
from turbine_operator.adapters.aws.aws_sessions import AwsSessions
from turbine_operator.core.errors import AwsNotFound


class ReportReader:
    def __init__(self, sessions: AwsSessions, region: str, role_arn: str | None) -> None:
        self._ssm = sessions.client("ssm", region, role_arn)

    def read(self, parameter: str) -> Mapping[str, Any] | None:
        """The report, or None when the parameter is missing or holds no JSON object."""
        try:
            with aws_call("GetParameter"):
                text = self._ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
        except AwsNotFound:
            return None
        try:
            document = json.loads(text)
        except ValueError:
            return None
        return document if isinstance(document, dict) else None
