"""Every moto extension of the embedded AWS, installed by one function for both of its servers.

`turbine_dev.aws.moto_server` (the tests' embedded AWS) and `turbine_dev.rehearsal.services.aws_server`
(the boot rehearsal's) each used to list the extensions they installed; the lists drifted, and the rehearsal
lacked `moto_resource_names` (moto's generated names broke the database identifier). Both call
`install_all()` now; the rehearsal adds only its own lifecycle-hook and SignalResource recorders.
tests/devtools/test_extensions_installed.py fails when a `turbine_dev.aws.moto_*` module, or a
`turbine_dev.strict` module with an `install()`, is missing from EXTENSIONS.
"""

from __future__ import annotations

import importlib
from pathlib import Path

# In the order they must be installed: moto_extensions first (strict_cfn imports its models), strict_cfn
# after the CloudFormation models, strict_request_limits after strict_cfn (it wraps strict_cfn's handlers).
EXTENSIONS = (
    "turbine_dev.aws.moto_extensions",
    "turbine_dev.aws.moto_autoscaling",
    "turbine_dev.aws.moto_sqs",
    "turbine_dev.aws.moto_cfn_resources",
    "turbine_dev.aws.moto_drift",
    "turbine_dev.aws.moto_resource_names",
    "turbine_dev.aws.moto_update_policy",
    "turbine_dev.aws.moto_route53_alias",
    "turbine_dev.aws.moto_target_health",
    "turbine_dev.strict.strict_cfn",
    "turbine_dev.strict.strict_request_limits",
)
# Modules of those packages that are no extension: the server itself and the HTTP layer it wraps moto in.
NOT_EXTENSIONS = ("turbine_dev.aws.moto_server",)


def install_all(target_health_observations: Path | None = None) -> tuple[str, ...]:
    """Installs every extension in the moto of this process; returns their module names.

    `target_health_observations`: the file where the rehearsal's load balancer stand-in writes what its
    health checks saw (moto_target_health answers DescribeTargetHealth from it); None: no checker runs."""
    for name in EXTENSIONS:
        module = importlib.import_module(name)
        if name == "turbine_dev.aws.moto_target_health":
            module.install(target_health_observations)
        else:
            module.install()
    return EXTENSIONS
