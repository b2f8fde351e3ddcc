"""kopf's last-handled record: in status, small, changing exactly when something the handlers read does."""

from __future__ import annotations

import json
from typing import Any, cast

import kopf

from turbine_operator.adapters.kube.cluster import RECONCILE_REQUEST
from turbine_operator.core.plan.drift import REQUEST_ANNOTATION
from turbine_operator.handlers.diffbase import (
    LEGACY_ANNOTATION,
    LONGEST_KEPT_STRING,
    STATUS_FIELD,
    ProgressAnnotations,
    StatusDiffBaseStorage,
)

STORAGE = StatusDiffBaseStorage()


def _body(
    template: str = "Resources: {}",
    *,
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    status: dict[str, Any] | None = None,
) -> kopf.Body:
    raw: dict[str, Any] = {
        "apiVersion": "turbine.dev/v1alpha1",
        "kind": "TurbineStack",
        "metadata": {
            "name": "large",
            "namespace": "data",
            "uid": "u",
            "resourceVersion": "7",
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
            "annotations": annotations or {},
            "labels": labels or {},
        },
        "spec": {
            "templateBucket": {"name": "turbine-templates"},
            "additionalTemplates": [{"name": "Big", "template": {"inline": template}}],
        },
        "status": {"observedGeneration": 1, **(status or {})},
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


def test_status_and_system_metadata_are_not_part_of_the_record() -> None:
    before = STORAGE.build(body=_body())
    after = STORAGE.build(body=_body(status={"stackStatus": "CREATE_COMPLETE", STATUS_FIELD: "{}"}))

    assert before == after
    assert set(before) == {"spec"}


def test_a_requested_drift_check_is_a_change() -> None:
    """kopf's own record dropped it with the annotations under our prefix: it never woke a settled stack."""
    marked = {"turbine.dev/kopf-managed": "yes"}
    asked = STORAGE.build(body=_body(annotations={REQUEST_ANNOTATION: "now", **marked}))

    assert asked != STORAGE.build(body=_body(annotations=marked))
    assert asked["metadata"] == {"annotations": {REQUEST_ANNOTATION: "now"}}


def test_a_reconcile_request_of_a_changed_reference_is_a_change() -> None:
    """A referenced Secret's change writes its version here; left out of the record, kopf saw no change and
    the TurbineStack waited for its next resync."""
    first = STORAGE.build(body=_body(annotations={RECONCILE_REQUEST: "Secret/token@41"}))
    second = STORAGE.build(body=_body(annotations={RECONCILE_REQUEST: "Secret/token@42"}))

    assert first != second
    assert second["metadata"] == {"annotations": {RECONCILE_REQUEST: "Secret/token@42"}}
    cleared = ProgressAnnotations(prefix="turbine.dev", v1=False).clear(essence=second)
    assert cleared["metadata"] == {"annotations": {RECONCILE_REQUEST: "Secret/token@42"}}


def test_the_progress_storage_leaves_a_requested_drift_check_in_the_record() -> None:
    """kopf clears both records with the progress storage at every event: its own clear() removed every
    annotation under the prefix, and with it the request."""
    essence = STORAGE.build(body=_body(annotations={REQUEST_ANNOTATION: "now"}))

    cleared = ProgressAnnotations(prefix="turbine.dev", v1=False).clear(essence=essence)

    assert cleared["metadata"] == {"annotations": {REQUEST_ANNOTATION: "now"}}


def test_a_handler_that_succeeds_at_once_leaves_no_annotation_to_write() -> None:
    """kopf records a handler's progress, purges it on success in the same patch, and wrote a marker that
    stayed: one more write and one more watch event for every TurbineStack."""
    storage = ProgressAnnotations(prefix="turbine.dev", v1=False)
    body, patch = _body(), kopf.Patch()
    key = cast(Any, "reconcile")

    storage.store(key=key, record={"started": "2026-11-26T00:00:00", "retries": 1}, body=body, patch=patch)
    storage.purge(key=key, body=body, patch=patch)

    assert not patch.metadata.annotations
    assert not patch


def test_annotations_the_handlers_do_not_read_are_not_a_change() -> None:
    tracked = _body(annotations={"argocd.argoproj.io/tracking-id": "a", LEGACY_ANNOTATION: "{}"})

    assert STORAGE.build(body=tracked) == STORAGE.build(body=_body())


def test_labels_are_part_of_the_record() -> None:
    assert STORAGE.build(body=_body(labels={"turbine.dev/shard": "a"})) != STORAGE.build(body=_body())


def test_fields_a_handler_filters_on_are_copied() -> None:
    fields = ["status.phase", ("status", "absent")]
    essence = STORAGE.build(body=_body(status={"phase": "x"}), extra_fields=fields)

    assert essence["status"] == {"phase": "x"}


def test_the_record_is_stored_in_status_only() -> None:
    """One request to the status subresource with the handler's status, no second one for an annotation."""
    body = _body(annotations={REQUEST_ANNOTATION: "now"})
    patch = kopf.Patch()

    STORAGE.store(body=body, patch=patch, essence=STORAGE.build(body=body))

    assert set(patch) == {"status"}
    assert json.loads(patch["status"][STATUS_FIELD]) == STORAGE.build(body=body)


def test_the_record_is_read_from_status_then_from_the_annotation_of_earlier_versions() -> None:
    legacy = '{"spec":{"old":true}}\n'
    current = json.dumps({"spec": {"new": True}})

    assert STORAGE.fetch(body=_body(annotations={LEGACY_ANNOTATION: legacy})) == {"spec": {"old": True}}
    both = _body(annotations={LEGACY_ANNOTATION: legacy}, status={STATUS_FIELD: current})
    assert STORAGE.fetch(body=both) == {"spec": {"new": True}}
    assert STORAGE.fetch(body=_body()) is None
