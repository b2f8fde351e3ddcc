"""Publishes the stack's outputs in the ConfigMap spec.outputsConfigMap asks for, once the status that holds
them is known (core/report/outputs_config_map.py decides; this reads and writes the ConfigMaps)."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from turbine_operator.core.errors import ClusterError, SpecError
from turbine_operator.core.render.rendering import Owner
from turbine_operator.core.report.outputs_config_map import (
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
from turbine_operator.core.report.reporting import Announcement
from turbine_operator.operations.clock import Clock, timestamp, utc_now
from turbine_operator.operations.turbine_stack import StackResource

logger = logging.getLogger(__name__)


class ConfigMaps(Protocol):
    def labelled_config_maps(self, namespace: str, labels: Mapping[str, str]) -> list[ConfigMapSeen]: ...

    def config_map(self, namespace: str, name: str) -> ConfigMapSeen | None: ...

    def create_config_map(self, namespace: str, body: Mapping[str, Any]) -> None: ...

    def patch_config_map(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None: ...

    def delete_config_map(self, namespace: str, name: str, uid: str) -> None: ...


@dataclasses.dataclass(frozen=True)
class Published:
    conditions: list[dict[str, Any]] | None  # the new status.conditions; None: as they are
    announcements: tuple[Announcement, ...] = ()


class OutputsPublisher:
    """Brings each TurbineStack's outputs ConfigMap in line with the status just written.

    It remembers what it last reported per TurbineStack: kopf writes a handler's status after the handler
    returns, so the next handler or timer tick may still be given the status from before, and would
    otherwise post the same warning again.
    """

    def __init__(self, clock: Clock = utc_now) -> None:
        self._clock = clock
        self._guard = threading.Lock()
        self._reported: dict[str, Report | None] = {}

    def publish(
        self, resource: StackResource, status: Mapping[str, Any], config_maps: ConfigMaps, default_region: str
    ) -> Published | None:
        """None when there is nothing to write to the TurbineStack."""
        try:
            spec = resource.parsed_spec(default_region)
        except SpecError:
            return None  # what an invalid spec wants is unknown; it is Stalled until it is edited
        wanted = config_map_name(spec, resource.name)
        # The conditions this status write carries: the OutputsPublished written must be right in them.
        conditions: Sequence[Mapping[str, Any]] = status.get("conditions") or []
        if wanted is None and last_report(conditions) is None:
            return None  # never asked for, or cleaned up (the condition goes last): not a single request
        with self._guard:
            previous = (
                self._reported[resource.uid] if resource.uid in self._reported else last_report(conditions)
            )
        try:
            publication = _publication(resource, wanted, status, config_maps, previous)
        except ClusterError as error:
            if error.transient:
                # The status says what was last published; the next reconcile looks again.
                logger.warning(
                    "Could not publish the outputs of %s/%s: %s", resource.namespace, resource.name, error
                )
                return None
            publication = failed_publication(str(error), previous)
        with self._guard:
            self._reported[resource.uid] = publication.report
        now = timestamp(self._clock())
        return Published(
            reported_conditions(conditions, publication.report, resource.generation, now),
            publication.announcements,
        )

    def forget(self, uid: str) -> None:
        with self._guard:
            self._reported.pop(uid, None)


def _publication(
    resource: StackResource,
    wanted: str | None,
    status: Mapping[str, Any],
    config_maps: ConfigMaps,
    previous: Report | None,
) -> Publication:
    """Reads the ConfigMaps there are, plans, and writes; raises ClusterError if the API fails."""
    namespace = resource.namespace
    labelled = config_maps.labelled_config_maps(namespace, outputs_label(resource.name))
    at_wanted = next((seen for seen in labelled if seen.name == wanted), None)
    if wanted is not None and at_wanted is None:
        at_wanted = config_maps.config_map(namespace, wanted)  # missing, unlabelled, or not ours
    publication = plan_publication(
        Owner(namespace, resource.name, resource.uid),
        wanted,
        outputs=status.get("outputs") or {},
        labelled=labelled,
        at_wanted=at_wanted,
        previous=previous,
    )
    for seen in publication.deletes:
        config_maps.delete_config_map(namespace, seen.name, seen.uid)
    if publication.create is not None:
        config_maps.create_config_map(namespace, publication.create)
    if publication.patch is not None and wanted is not None:
        config_maps.patch_config_map(namespace, wanted, publication.patch)
    return publication
