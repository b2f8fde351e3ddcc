"""Small templates for the emulator's tests."""

from __future__ import annotations

import json


def queue_template(output: str = "one") -> str:
    return json.dumps(
        {
            "Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 30}}},
            "Outputs": {"Marker": {"Value": output}},
        }
    )
