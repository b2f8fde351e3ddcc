"""crds/ is generated from the API models (`make crd`): the committed files must be what the models say."""

from __future__ import annotations

from turbine_dev.k8s.crd import TARGETS, crd_yaml


def test_the_committed_crd_and_the_charts_copy_are_generated_from_the_models() -> None:
    expected = crd_yaml()
    stale = [str(target) for target in TARGETS if target.read_text() != expected]
    assert stale == [], f"{stale} differ from the API models: run make crd"
