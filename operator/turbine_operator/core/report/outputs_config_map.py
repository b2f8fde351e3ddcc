"""spec.outputsConfigMap: the ConfigMap that publishes a stack's outputs, and what to do with those there are.

The ConfigMap's data is status.outputs, nothing else (Turbine's templates output no secrets). It is ours when
an ownerReference names this TurbineStack's uid; the label only finds it. A ConfigMap of the wanted name that
is not ours is never written or deleted, only reported; ours under another name (the name changed, the field
was removed) is deleted. Kubernetes' garbage collector deletes ours with the TurbineStack.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from turbine_operator.core.api.conditions import set_condition
from turbine_operator.core.api.crd import KIND
from turbine_operator.core.api.spec import TurbineStackSpec
from turbine_operator.core.naming import API_GROUP, API_VERSION, MANAGED_BY, fitted_name
from turbine_operator.core.render.rendering import Owner
from turbine_operator.core.report.reporting import Announcement
from turbine_operator.core.report.status import replaced_map

OUTPUTS_OF_LABEL = "turbine.dev/outputs-of"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
# A condition of its own, which never flips Ready: the stack is fine whether or not its outputs are published.
OUTPUTS_PUBLISHED = "OutputsPublished"
NOT_OWNED = "ConfigMapNotOwned"
NOT_WRITTEN = "ConfigMapNotWritten"
LONGEST_LABEL_VALUE = 63
LONGEST_OBJECT_NAME = 253


def config_map_name(spec: TurbineStackSpec, owner_name: str) -> str | None:
    """The ConfigMap the spec asks for, or None when it asks for none."""
    wanted = spec.outputs_config_map
    if wanted is None:
        return None
    return wanted.name or fitted_name(f"{owner_name}-outputs", LONGEST_OBJECT_NAME)


def outputs_label(owner_name: str) -> dict[str, str]:
    """The label on our ConfigMaps (a label value has at most 63 characters, a TurbineStack name more)."""
    return {OUTPUTS_OF_LABEL: fitted_name(owner_name, LONGEST_LABEL_VALUE)}


@dataclasses.dataclass(frozen=True)
class ConfigMapSeen:
    name: str
    uid: str
    owner_uids: frozenset[str]
    labels: Mapping[str, str]
    data: Mapping[str, str]


@dataclasses.dataclass(frozen=True)
class Report:
    """The OutputsPublished condition to write (None in Publication.report: remove it)."""

    status: str
    reason: str
    message: str


@dataclasses.dataclass(frozen=True)
class Publication:
    """What to do: delete ours under other names, then create or patch the wanted one; and what to tell."""

    deletes: tuple[ConfigMapSeen, ...] = ()
    create: Mapping[str, Any] | None = None
    patch: Mapping[str, Any] | None = None  # a merge patch of the wanted ConfigMap, which is ours
    report: Report | None = None
    announcements: tuple[Announcement, ...] = ()


def _owner_reference(owner: Owner) -> dict[str, Any]:
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": KIND,
        "name": owner.name,
        "uid": owner.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _labels(owner: Owner) -> dict[str, str]:
    return {**outputs_label(owner.name), MANAGED_BY_LABEL: MANAGED_BY}


def plan_publication(
    owner: Owner,
    wanted: str | None,
    *,
    outputs: Mapping[str, str],
    labelled: Sequence[ConfigMapSeen],
    at_wanted: ConfigMapSeen | None,
    previous: Report | None,
) -> Publication:
    """`labelled`: the ConfigMaps with our label; `at_wanted`: the one named `wanted`, if it exists;
    `previous`: what was last reported, so that a warning is posted once, when its cause appears."""
    deletes = tuple(seen for seen in labelled if owner.uid in seen.owner_uids and seen.name != wanted)
    told: tuple[Announcement, ...] = ()
    if deletes:
        why = "spec.outputsConfigMap is unset" if wanted is None else f"the outputs move to {wanted}"
        names = ", ".join(seen.name for seen in deletes)
        told = (Announcement("OutputsConfigMapDeleted", f"Deleted ConfigMap {names}: {why}"),)
    if wanted is None:
        return Publication(deletes=deletes, announcements=told)
    if at_wanted is None:
        if not outputs:
            # Not created empty: a consumer's envFrom waits for it rather than starting without the values.
            message = f"ConfigMap {wanted} is created once the stack has outputs"
            return Publication(
                deletes, report=Report("False", "StackHasNoOutputs", message), announcements=told
            )
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": wanted,
                "labels": _labels(owner),
                "ownerReferences": [_owner_reference(owner)],
            },
            "data": dict(outputs),
        }
        created = Announcement(
            "OutputsConfigMapCreated", f"Published the stack's {len(outputs)} outputs in ConfigMap {wanted}"
        )
        return Publication(
            deletes, create=body, report=_published(wanted, outputs), announcements=(*told, created)
        )
    if owner.uid not in at_wanted.owner_uids:
        message = (
            f"ConfigMap {wanted} exists and is not owned by this TurbineStack, so it is left alone: "
            "delete it or set spec.outputsConfigMap.name to another name"
        )
        if not _reported(previous, NOT_OWNED):
            told = (*told, Announcement(NOT_OWNED, message, warning=True))
        return Publication(deletes, report=Report("False", NOT_OWNED, message), announcements=told)
    patch: dict[str, Any] = {}
    missing = {key: value for key, value in _labels(owner).items() if at_wanted.labels.get(key) != value}
    if missing:
        patch["metadata"] = {"labels": missing}
    if dict(at_wanted.data) != dict(outputs):
        patch["data"] = replaced_map(at_wanted.data, outputs)
        told = (
            *told,
            Announcement(
                "OutputsConfigMapUpdated", f"ConfigMap {wanted} follows the stack's changed outputs"
            ),
        )
    return Publication(deletes, patch=patch or None, report=_published(wanted, outputs), announcements=told)


def failed_publication(error: str, previous: Report | None) -> Publication:
    """The Kubernetes API refused a read or write (RBAC, a quota, an immutable ConfigMap): reported, and
    tried again at the next reconcile."""
    message = f"The stack's outputs could not be published: {error}"
    told = () if _reported(previous, NOT_WRITTEN) else (Announcement(NOT_WRITTEN, message, warning=True),)
    return Publication(report=Report("False", NOT_WRITTEN, message), announcements=told)


def _reported(previous: Report | None, reason: str) -> bool:
    return previous is not None and (previous.status, previous.reason) == ("False", reason)


def last_report(conditions: Sequence[Mapping[str, Any]]) -> Report | None:
    """The OutputsPublished condition among `conditions`, if there is one."""
    for condition in conditions:
        if condition.get("type") == OUTPUTS_PUBLISHED:
            return Report(
                str(condition.get("status")), str(condition.get("reason")), str(condition.get("message"))
            )
    return None


def _published(name: str, outputs: Mapping[str, str]) -> Report:
    return Report("True", "Published", f"The stack's {len(outputs)} outputs are in ConfigMap {name}")


def reported_conditions(
    conditions: Sequence[Mapping[str, Any]], report: Report | None, generation: int, now: str
) -> list[dict[str, Any]] | None:
    """The conditions with OutputsPublished as reported (removed for None); None if that changes nothing."""
    if report is None:
        kept = [dict(c) for c in conditions if c.get("type") != OUTPUTS_PUBLISHED]
        return kept if len(kept) != len(conditions) else None
    updated = set_condition(
        conditions,
        OUTPUTS_PUBLISHED,
        status=report.status,
        reason=report.reason,
        message=report.message,
        generation=generation,
        now=now,
    )
    return updated if updated != [dict(c) for c in conditions] else None
