"""kopf's last-handled record: long strings become digests, so it fits an annotation and sees changes."""

from __future__ import annotations

import json
from typing import Any, cast

import kopf

from turbine_operator.handlers.diffbase import LONGEST_KEPT_STRING, DigestedDiffBaseStorage

STORAGE = DigestedDiffBaseStorage(prefix="turbine.dev", key="last-handled-configuration", v1=False)


def _body(template: str) -> kopf.Body:
    raw: dict[str, Any] = {
        "apiVersion": "turbine.dev/v1alpha1",
        "kind": "TurbineStack",
        "metadata": {"name": "large", "namespace": "data", "uid": "u"},
        "spec": {
            "templateBucket": {"name": "turbine-templates"},
            "additionalTemplates": [{"name": "Big", "template": {"inline": template}}],
        },
        "status": {"observedGeneration": 1},
    }
    return kopf.Body(cast(kopf.RawBody, raw))


def test_a_large_template_is_recorded_as_its_digest() -> None:
    essence = STORAGE.build(body=_body("x" * 300 * 1024))

    recorded = json.dumps(essence)
    assert len(recorded) < 1024
    inline = essence["spec"]["additionalTemplates"][0]["template"]["inline"]
    assert inline.startswith("sha256:")
    assert inline.endswith(f"({300 * 1024} characters)")
    assert essence["spec"]["templateBucket"] == {"name": "turbine-templates"}


def test_the_record_changes_exactly_when_the_template_does() -> None:
    large = "y" * (LONGEST_KEPT_STRING + 1)

    assert STORAGE.build(body=_body(large)) == STORAGE.build(body=_body(large))
    assert STORAGE.build(body=_body(large)) != STORAGE.build(body=_body(large[:-1] + "z"))


def test_short_strings_are_kept() -> None:
    short = "s" * LONGEST_KEPT_STRING

    essence = STORAGE.build(body=_body(short))

    assert essence["spec"]["additionalTemplates"][0]["template"]["inline"] == short
