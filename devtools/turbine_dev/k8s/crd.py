"""`make crd`: writes the CRD generated from the API models to crds/ and to the Helm chart's files/crds/ (its
templates/crd.yaml renders that file, so `helm upgrade` carries CRD changes).

tests/unit/test_crd_generated.py fails when either committed file differs from what this writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from turbine_operator.core.api.crd import custom_resource_definition

REPO_ROOT = Path(__file__).resolve().parents[3]
CRD_NAME = "turbinestacks.turbine.dev.yaml"
TARGETS = (
    REPO_ROOT / "crds" / CRD_NAME,
    REPO_ROOT / "charts" / "turbine-operator" / "files" / "crds" / CRD_NAME,
)
HEADER = (
    "# Generated from the API models in operator/turbine_operator/core/ (spec.py, status_schema.py, crd.py)\n"
    "# by `make crd`; edit those, not this file.\n"
)


class _Dumper(yaml.SafeDumper):
    """Block style; long text folded (>-) so descriptions and CEL rules read as prose."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = ">" if len(value) > 80 and "\n" not in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def crd_yaml() -> str:
    document: dict[str, Any] = custom_resource_definition()
    return HEADER + yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True)


def main() -> None:
    text = crd_yaml()
    for target in TARGETS:
        target.write_text(text)
        print(f"wrote {target.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
