"""Publishing the outputs ConfigMap after a status write: which requests are made, and when none is."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any

import pytest

from turbine_operator.core.errors import ClusterError
from turbine_operator.core.report.outputs_config_map import OUTPUTS_PUBLISHED, ConfigMapSeen
from turbine_operator.operations.stack.outputs_config_map import OutputsPublisher, Published
from turbine_operator.operations.turbine_stack import StackResource

OUTPUTS = {"WebserverURL": "http://webserver.example:8080"}


@dataclasses.dataclass
class ConfigMapsInMemory:
    """The ConfigMaps of one namespace; `requests` records every call, `failure` fails the next write."""

    stored: dict[str, ConfigMapSeen] = dataclasses.field(default_factory=dict)
    requests: list[str] = dataclasses.field(default_factory=list)
    failure: ClusterError | None = None

    def labelled_config_maps(self, namespace: str, labels: Mapping[str, str]) -> list[ConfigMapSeen]:
        self.requests.append("list")
        return [seen for seen in self.stored.values() if labels.items() <= seen.labels.items()]

    def config_map(self, namespace: str, name: str) -> ConfigMapSeen | None:
        self.requests.append(f"get {name}")
        return self.stored.get(name)

    def create_config_map(self, namespace: str, body: Mapping[str, Any]) -> None:
        self._write(f"create {body['metadata']['name']}")
        metadata = body["metadata"]
        self.stored[metadata["name"]] = ConfigMapSeen(
            name=metadata["name"],
            uid=f"cm-{metadata['name']}",
            owner_uids=frozenset(ref["uid"] for ref in metadata["ownerReferences"]),
            labels=metadata["labels"],
            data=body["data"],
        )

    def patch_config_map(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        self._write(f"patch {name}")

    def delete_config_map(self, namespace: str, name: str, uid: str) -> None:
        self._write(f"delete {name}")
        self.stored.pop(name, None)

    def _write(self, request: str) -> None:
        self.requests.append(request)
        if self.failure is not None:
            raise self.failure


def _resource(**spec: Any) -> StackResource:
    return StackResource(
        namespace="data",
        name="airflow",
        uid="uid-1",
        generation=2,
        spec={"templateBucket": {"name": "bucket"}, **spec},
        status={},
    )


def _publisher() -> OutputsPublisher:
    return OutputsPublisher(clock=lambda: datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC))


def _publish(
    resource: StackResource,
    status: dict[str, Any],
    maps: ConfigMapsInMemory,
    publisher: OutputsPublisher | None = None,
) -> Published | None:
    return (publisher or _publisher()).publish(resource, status, maps, "us-east-1")


def test_a_stack_without_the_field_costs_no_request() -> None:
    maps = ConfigMapsInMemory()
    assert _publish(_resource(), {"outputs": OUTPUTS}, maps) is None
    assert maps.requests == []


def test_published_once_then_only_looked_at() -> None:
    maps = ConfigMapsInMemory()
    resource = _resource(outputsConfigMap={})
    first = _publish(resource, {"outputs": OUTPUTS}, maps)
    assert maps.requests == ["list", "get airflow-outputs", "create airflow-outputs"]
    assert first is not None
    assert first.conditions is not None
    assert [c["type"] for c in first.conditions] == [OUTPUTS_PUBLISHED]

    maps.requests.clear()
    again = _publish(resource, {"outputs": OUTPUTS, "conditions": first.conditions}, maps)
    assert maps.requests == ["list"], "a resync with the same outputs reads one list and writes nothing"
    assert again == Published(conditions=None)


def test_removing_the_field_deletes_ours_and_then_costs_no_request() -> None:
    maps = ConfigMapsInMemory()
    first = _publish(_resource(outputsConfigMap={}), {"outputs": OUTPUTS}, maps)
    assert first is not None
    status = {"outputs": OUTPUTS, "conditions": first.conditions}
    removed = _publish(_resource(), status, maps)
    assert maps.requests[-2:] == ["list", "delete airflow-outputs"]
    assert removed is not None
    assert removed.conditions == []
    maps.requests.clear()
    assert _publish(_resource(), {"outputs": OUTPUTS, "conditions": []}, maps) is None
    assert maps.requests == []


def test_an_invalid_spec_changes_nothing() -> None:
    maps = ConfigMapsInMemory()
    assert (
        _publish(_resource(outputsConfigMap={}, workers={"maxSize": "many"}), {"outputs": OUTPUTS}, maps)
        is None
    )
    assert maps.requests == []


@pytest.mark.parametrize(("transient", "reported"), [(True, False), (False, True)])
def test_a_failed_write_is_retried_quietly_or_reported(transient: bool, reported: bool) -> None:
    maps = ConfigMapsInMemory(
        failure=ClusterError("creating ConfigMap: HTTP 403 Forbidden", transient=transient)
    )
    published = _publish(_resource(outputsConfigMap={}), {"outputs": OUTPUTS}, maps)
    if not reported:
        assert published is None, "the next reconcile tries again; the status stays as it is"
        return
    assert published is not None
    assert published.conditions is not None
    (condition,) = published.conditions
    assert (condition["status"], condition["reason"]) == ("False", "ConfigMapNotWritten")
    assert [a.reason for a in published.announcements] == ["ConfigMapNotWritten"]


def test_a_warning_is_posted_once_even_when_given_the_status_from_before_it() -> None:
    """kopf writes a handler's status after it returns: the next tick may see the status from before."""
    maps = ConfigMapsInMemory()
    maps.stored["airflow-outputs"] = ConfigMapSeen(
        "airflow-outputs", "cm-1", frozenset(), {}, {"mine": "yes"}
    )
    publisher = _publisher()
    first = _publish(_resource(outputsConfigMap={}), {"outputs": OUTPUTS}, maps, publisher)
    stale = _publish(_resource(outputsConfigMap={}), {"outputs": OUTPUTS}, maps, publisher)
    assert first is not None
    assert stale is not None
    assert [a.reason for a in first.announcements] == ["ConfigMapNotOwned"]
    assert stale.announcements == ()
    assert stale.conditions == first.conditions, "the condition is still written with the status it is given"
    assert maps.requests.count("create airflow-outputs") == 0
