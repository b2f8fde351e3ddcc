"""Reconciles the TurbineStacks that reference a ConfigMap or Secret whenever it changes.

An index maps each referenced object to the TurbineStacks naming it; an event handler per kind
turns a change into a reconcile request (an annotation kopf sees as an update). Content is never
logged or compared here: the reconcile reads it again and renders it like any other input.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from turbine_operator.core.errors import ClusterError, SpecError
from turbine_operator.core.references import SourceKind, change_needs_reconcile, watched_objects
from turbine_operator.core.spec import parse_spec
from turbine_operator.handlers.runtime import runtime_of
from turbine_operator.handlers.stacks import RESOURCE

# References do not depend on the region; parse_spec only needs one to fill in a default.
_ANY_REGION = "us-east-1"
logger = logging.getLogger(__name__)

ReferenceIndex = kopf.Index[tuple[str, str, str], str]


# kopf indexes every event of a TurbineStack, most of them status writes: the references are parsed
# once per spec (uid and generation), not once per event. Bounded: entries of deleted TurbineStacks go.
_PARSED: dict[tuple[str, int], dict[tuple[str, str, str], str]] = {}
_PARSED_LIMIT = 20_000


@kopf.index(*RESOURCE)
async def turbine_references(
    namespace: str | None, name: str, spec: kopf.Spec, meta: kopf.Meta, **_: Any
) -> dict[tuple[str, str, str], str]:
    """(namespace, kind, object name) -> the name of a TurbineStack that reads that object.

    Async, so that kopf does not hand each event to a thread: a parse is a millisecond or so."""
    if namespace is None:
        return {}  # TurbineStacks are namespaced; kopf's signature merely allows cluster objects
    key = (str(meta.get("uid")), int(meta.get("generation") or 0))
    if key not in _PARSED:
        if len(_PARSED) >= _PARSED_LIMIT:
            _PARSED.clear()
        _PARSED[key] = _references(namespace, name, dict(spec))
    return dict(_PARSED[key])


def _references(namespace: str, name: str, spec: dict[str, Any]) -> dict[tuple[str, str, str], str]:
    try:
        parsed = parse_spec(spec, namespace=namespace, name=name, default_region=_ANY_REGION)
    except SpecError:
        return {}  # an invalid spec is Stalled until it is edited, which reconciles anyway
    return {(namespace, kind.value, object_name): name for kind, object_name in watched_objects(parsed)}


# kopf passes every index as a keyword argument named after its function.
INDEX_ARGUMENT = "turbine_references"


@kopf.on.event("", "v1", "configmaps")
def config_map_changed(event: kopf.RawEvent, memo: kopf.Memo, **kwargs: Any) -> None:
    _request_reconciles(SourceKind.CONFIG_MAP, event, kwargs[INDEX_ARGUMENT], memo)


@kopf.on.event("", "v1", "secrets")
def secret_changed(event: kopf.RawEvent, memo: kopf.Memo, **kwargs: Any) -> None:
    _request_reconciles(SourceKind.SECRET, event, kwargs[INDEX_ARGUMENT], memo)


def _request_reconciles(
    kind: SourceKind, event: kopf.RawEvent, index: ReferenceIndex, memo: kopf.Memo
) -> None:
    metadata = event["object"].get("metadata") or {}
    namespace, name = str(metadata.get("namespace")), str(metadata.get("name"))
    stacks = sorted(set(index.get((namespace, kind.value, name), [])))
    if not stacks:
        return
    runtime = runtime_of(memo)
    version = str(metadata.get("resourceVersion", ""))
    previous = runtime.reference_versions.get((kind, namespace, name))
    runtime.reference_versions[(kind, namespace, name)] = version
    if not change_needs_reconcile(event.get("type"), previous, version):
        return
    # The object's version, never its content, tells one change from the next.
    cause = f"{kind.value}/{name}@{version}"
    for stack in stacks:
        logger.info("%s %s/%s changed: reconciling TurbineStack %s", kind.value, namespace, name, stack)
        try:
            runtime.cluster.request_reconcile(namespace, stack, cause)
        except ClusterError as error:
            # kopf does not retry event handlers; the stack's next resync reads the object anyway.
            logger.warning("Could not request a reconcile of %s/%s: %s", namespace, stack, error)
