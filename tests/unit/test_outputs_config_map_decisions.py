"""spec.outputsConfigMap decisions: what the ConfigMap holds, which ConfigMaps are ours to write or delete,
and what the OutputsPublished condition and the events say."""

from __future__ import annotations

import re
from typing import Any

import pytest

from turbine_operator.core.api.conditions import READY
from turbine_operator.core.api.spec import parse_spec
from turbine_operator.core.render.rendering import Owner
from turbine_operator.core.report.outputs_config_map import (
    NOT_OWNED,
    NOT_WRITTEN,
    OUTPUTS_OF_LABEL,
    OUTPUTS_PUBLISHED,
    ConfigMapSeen,
    Publication,
    Report,
    config_map_name,
    failed_publication,
    last_report,
    outputs_label,
    plan_publication,
    reported_conditions,
)

OWNER = Owner("data", "airflow", "uid-1")
OUTPUTS = {"WebserverURL": "http://webserver.example:8080", "QueueName": "airflow-tasks"}
OURS = frozenset({OWNER.uid})
LABELS = {OUTPUTS_OF_LABEL: "airflow", "app.kubernetes.io/managed-by": "turbine-operator"}
# Kubernetes' label value and object name syntax (k8s.io/apimachinery/pkg/util/validation).
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
OBJECT_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
NOW = "2024-05-01T12:00:00Z"
EARLIER = "2024-05-01T10:00:00Z"


def _spec(**fields: Any) -> Any:
    raw = {"templateBucket": {"name": "bucket"}, **fields}
    return parse_spec(raw, namespace=OWNER.namespace, name=OWNER.name, default_region="us-east-1")


def _seen(
    name: str = "airflow-outputs",
    owners: frozenset[str] = OURS,
    data: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> ConfigMapSeen:
    return ConfigMapSeen(
        name=name,
        uid=f"cm-{name}",
        owner_uids=owners,
        labels=LABELS if labels is None else labels,
        data=OUTPUTS if data is None else data,
    )


def _plan(
    wanted: str | None = "airflow-outputs",
    *,
    outputs: dict[str, str] | None = None,
    labelled: list[ConfigMapSeen] | None = None,
    at_wanted: ConfigMapSeen | None = None,
    previous: Report | None = None,
) -> Publication:
    return plan_publication(
        OWNER,
        wanted,
        outputs=OUTPUTS if outputs is None else outputs,
        labelled=labelled or [],
        at_wanted=at_wanted,
        previous=previous,
    )


def _reasons(publication: Publication) -> list[str]:
    return [announcement.reason for announcement in publication.announcements]


def test_the_name_is_the_spec_s_or_the_default_and_none_without_the_field() -> None:
    assert config_map_name(_spec(), OWNER.name) is None
    assert config_map_name(_spec(outputsConfigMap={}), OWNER.name) == "airflow-outputs"
    assert config_map_name(_spec(outputsConfigMap={"name": "airflow-env"}), OWNER.name) == "airflow-env"


def test_names_and_labels_fit_kubernetes_limits_for_the_longest_turbine_stack_names() -> None:
    longest = "a" * 250
    other = "a" * 249 + "b"
    name = config_map_name(_spec(outputsConfigMap={}), longest)
    assert name is not None
    assert len(name) <= 253
    assert OBJECT_NAME.fullmatch(name)
    values = {outputs_label(stack)[OUTPUTS_OF_LABEL] for stack in (longest, other, "x." + "y" * 70)}
    assert len(values) == 3, "long names that share a prefix keep distinct labels"
    assert all(len(value) <= 63 and LABEL_VALUE.fullmatch(value) for value in values)
    assert outputs_label("airflow") == {OUTPUTS_OF_LABEL: "airflow"}, "a name that fits is the label"


def test_a_missing_config_map_is_created_with_the_outputs_the_labels_and_an_owner_reference() -> None:
    publication = _plan()
    assert publication.create == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "airflow-outputs",
            "labels": LABELS,
            "ownerReferences": [
                {
                    "apiVersion": "turbine.dev/v1alpha1",
                    "kind": "TurbineStack",
                    "name": "airflow",
                    "uid": "uid-1",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "data": OUTPUTS,
    }
    assert publication.patch is None
    assert publication.deletes == ()
    assert publication.report == Report(
        "True", "Published", "The stack's 2 outputs are in ConfigMap airflow-outputs"
    )
    assert _reasons(publication) == ["OutputsConfigMapCreated"]


def test_no_config_map_is_created_before_the_stack_has_outputs() -> None:
    publication = _plan(outputs={})
    assert publication.create is None
    assert publication.report is not None
    assert (publication.report.status, publication.report.reason) == ("False", "StackHasNoOutputs")
    assert publication.announcements == ()


def test_ours_with_the_same_outputs_is_not_written() -> None:
    ours = _seen()
    publication = _plan(labelled=[ours], at_wanted=ours)
    assert (publication.create, publication.patch, publication.deletes) == (None, None, ())
    assert publication.report is not None
    assert publication.report.status == "True"
    assert publication.announcements == ()


def test_ours_follows_changed_outputs_and_loses_outputs_that_are_gone() -> None:
    ours = _seen(data={"WebserverURL": "http://old:8080", "Removed": "x", "QueueName": "airflow-tasks"})
    publication = _plan(labelled=[ours], at_wanted=ours)
    assert publication.patch == {
        "data": {
            "Removed": None,
            "WebserverURL": "http://webserver.example:8080",
            "QueueName": "airflow-tasks",
        }
    }
    assert publication.create is None
    assert _reasons(publication) == ["OutputsConfigMapUpdated"]


def test_ours_without_its_labels_gets_them_back_quietly() -> None:
    unlabelled = _seen(labels={"team": "data"})
    publication = _plan(at_wanted=unlabelled)
    assert publication.patch == {"metadata": {"labels": LABELS}}
    assert publication.announcements == ()


@pytest.mark.parametrize(
    "owners", [frozenset(), frozenset({"uid-of-an-earlier-airflow"})], ids=["no-owner", "another-owner"]
)
def test_a_config_map_that_is_not_ours_is_left_alone_and_reported_once(owners: frozenset[str]) -> None:
    foreign = _seen(owners=owners, labels={}, data={"mine": "yes"})
    publication = _plan(at_wanted=foreign)
    assert (publication.create, publication.patch, publication.deletes) == (None, None, ())
    assert publication.report is not None
    assert (publication.report.status, publication.report.reason) == ("False", NOT_OWNED)
    assert (
        "ConfigMap airflow-outputs exists and is not owned by this TurbineStack" in publication.report.message
    )
    assert "spec.outputsConfigMap.name" in publication.report.message
    (warning,) = publication.announcements
    assert (warning.reason, warning.warning) == (NOT_OWNED, True)

    reported = reported_conditions([], publication.report, 3, NOW)
    assert reported is not None
    again = _plan(at_wanted=foreign, previous=last_report(reported))
    assert again.report == publication.report
    assert again.announcements == (), "the warning is posted when the conflict starts, not at every look"


def test_removing_the_field_deletes_ours_only_and_clears_the_condition() -> None:
    ours = _seen()
    labelled_by_someone_else = _seen(name="copied", owners=frozenset({"uid-2"}))
    publication = _plan(None, labelled=[ours, labelled_by_someone_else])
    assert publication.deletes == (ours,)
    assert (publication.create, publication.patch, publication.report) == (None, None, None)
    assert [a.message for a in publication.announcements] == [
        "Deleted ConfigMap airflow-outputs: spec.outputsConfigMap is unset"
    ]


def test_a_new_name_deletes_ours_under_the_old_one_and_creates_the_new_one() -> None:
    old = _seen(name="airflow-outputs")
    publication = _plan("airflow-env", labelled=[old])
    assert publication.deletes == (old,)
    assert publication.create is not None
    assert publication.create["metadata"]["name"] == "airflow-env"
    assert _reasons(publication) == ["OutputsConfigMapDeleted", "OutputsConfigMapCreated"]


def test_a_new_name_taken_by_another_config_map_still_deletes_ours_under_the_old_one() -> None:
    old = _seen(name="airflow-outputs")
    taken = _seen(name="airflow-env", owners=frozenset(), labels={})
    publication = _plan("airflow-env", labelled=[old], at_wanted=taken)
    assert publication.deletes == (old,)
    assert (publication.create, publication.patch) == (None, None)
    assert _reasons(publication) == ["OutputsConfigMapDeleted", NOT_OWNED]


def test_the_condition_is_set_kept_and_removed_beside_the_others() -> None:
    ready = {
        "type": READY,
        "status": "True",
        "reason": "StackReady",
        "message": "",
        "lastTransitionTime": EARLIER,
    }
    published = Report("True", "Published", "The stack's 2 outputs are in ConfigMap airflow-outputs")
    conditions = reported_conditions([ready], published, 3, EARLIER)
    assert conditions is not None
    assert [c["type"] for c in conditions] == [READY, OUTPUTS_PUBLISHED]
    assert conditions[1] | {"lastTransitionTime": EARLIER} == conditions[1]
    assert reported_conditions(conditions, published, 3, NOW) is None, "nothing to write when nothing changed"

    conflict = Report("False", NOT_OWNED, "not ours")
    changed = reported_conditions(conditions, conflict, 3, NOW)
    assert changed is not None
    assert changed[1]["status"] == "False"
    assert changed[1]["lastTransitionTime"] == NOW

    assert reported_conditions(changed, None, 3, NOW) == [ready]
    assert reported_conditions([ready], None, 3, NOW) is None


def test_a_refused_write_is_reported_with_a_warning_once() -> None:
    failed = failed_publication("creating ConfigMap data/airflow-outputs: HTTP 403 Forbidden", None)
    assert failed.report is not None
    assert (failed.report.status, failed.report.reason) == ("False", NOT_WRITTEN)
    assert "HTTP 403 Forbidden" in failed.report.message
    assert _reasons(failed) == [NOT_WRITTEN]
    assert failed_publication("again", failed.report).announcements == ()
    assert _reasons(failed_publication("again", Report("False", NOT_OWNED, ""))) == [NOT_WRITTEN]
