"""The operator's tenant grants (tenants.yaml, docs/tenants.md) as the flat ConfigMap keys that the admission
policy of examples/admission/ reads, for the tests that hold the two gates to one grant."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from turbine_dev.k8s.kube import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples" / "admission"
# The tenants.yaml lists, which the flat keys give comma-separated; an absent key stands for an empty list.
LISTS = ("accounts", "roleArns", "serviceRoleArns", "regions", "templateBuckets")
FLAGS = ("allowAdoption", "allowAdministratorPolicies")


def example(name: str) -> dict[str, Any]:
    """One document of examples/admission/."""
    document: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return document


def flat_grants(tenants: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The data of the grants ConfigMap (examples/admission/grants.yaml) for these tenants.yaml entries. The
    policy applies no defaults, so the default roles are listed among the granted ones."""
    data: dict[str, str] = {}
    for entry in tenants:
        key = f"tenant.{entry['name']}."
        data.update({f"namespace.{namespace}": entry["name"] for namespace in entry["namespaces"]})
        lists = {name: list(entry.get(name, [])) for name in LISTS}
        lists["roleArns"] += filter(None, [entry.get("defaultRoleArn")])
        lists["serviceRoleArns"] += filter(None, [entry.get("defaultServiceRoleArn")])
        # dict.fromkeys: a default may also be among the granted roles; listed once, in order.
        data.update(
            {key + name: ", ".join(dict.fromkeys(values)) for name, values in lists.items() if values}
        )
        data[key + "stackNamePrefix"] = entry.get("stackNamePrefix", "")
        data.update({key + flag: "true" if entry.get(flag) else "false" for flag in FLAGS})
    return data
