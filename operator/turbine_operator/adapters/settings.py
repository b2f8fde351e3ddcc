"""Operator configuration from the environment (the `turbine-operator run` flags set these)."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping

REGION_VARIABLES = ("TURBINE_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")
# Set by `turbine-operator run`: how many namespaces it serves (1 for all); sizes the API server session.
NAMESPACES_ENV = "TURBINE_SERVED_NAMESPACES"


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclasses.dataclass(frozen=True)
class OperatorSettings:
    default_region: str
    poll_interval: float = 15.0
    # A settled stack's own look at AWS (DescribeStacks); outside changes are seen sooner, by the listing.
    resync_interval: float = 43200.0
    # One ListStacks per region and role for the whole fleet: wakes the stacks changed outside the operator.
    listing_interval: float = 300.0
    metrics_port: int = 9090
    metrics_address: str = "0.0.0.0"  # noqa: S104 - scraped from inside the cluster
    workers_interval: float = 300.0
    drift_detections_per_minute: float = 10.0
    # Stack updates in flight at once, operator-wide (0: no limit); creations are not limited.
    max_concurrent_updates: int = 10
    # A label selector: this replica serves only the TurbineStacks it matches (one shard of several).
    shard_selector: str = ""
    # The administrator's tenant grants: a ConfigMap as namespace/name (core.access.tenancy); empty: none.
    tenants_config_map: str = ""
    # A namespace no tenant lists is refused (needs tenants_config_map).
    require_tenants: bool = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> OperatorSettings:
        environ = os.environ if environ is None else environ
        region = next((environ[name] for name in REGION_VARIABLES if environ.get(name)), "")
        if not region:
            raise SettingsError(f"no default region: set one of {', '.join(REGION_VARIABLES)} (or --region)")
        return cls(
            default_region=region,
            poll_interval=_number(environ, "TURBINE_POLL_INTERVAL", cls.poll_interval),
            resync_interval=_number(environ, "TURBINE_RESYNC_INTERVAL", cls.resync_interval),
            listing_interval=_number(environ, "TURBINE_LISTING_INTERVAL", cls.listing_interval),
            metrics_port=int(_number(environ, "TURBINE_METRICS_PORT", cls.metrics_port)),
            metrics_address=environ.get("TURBINE_METRICS_ADDRESS", cls.metrics_address),
            workers_interval=_number(environ, "TURBINE_WORKERS_INTERVAL", cls.workers_interval),
            drift_detections_per_minute=_number(
                environ, "TURBINE_DRIFT_DETECTIONS_PER_MINUTE", cls.drift_detections_per_minute
            ),
            max_concurrent_updates=int(
                _number(environ, "TURBINE_MAX_CONCURRENT_UPDATES", cls.max_concurrent_updates)
            ),
            shard_selector=label_selector(environ.get("TURBINE_SHARD_SELECTOR", "").strip()),
            tenants_config_map=_config_map(environ.get("TURBINE_TENANTS_CONFIG_MAP", "").strip()),
            require_tenants=_require_tenants(environ),
        )


_OBJECT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-.a-z0-9]*[a-z0-9])?")


def _config_map(raw: str) -> str:
    if raw and not _OBJECT_NAME.fullmatch(raw):
        raise SettingsError(f"TURBINE_TENANTS_CONFIG_MAP must be namespace/name, not {raw[:80]!r}")
    return raw


def _require_tenants(environ: Mapping[str, str]) -> bool:
    required = environ.get("TURBINE_REQUIRE_TENANTS", "") in {"1", "true"}
    if required and not environ.get("TURBINE_TENANTS_CONFIG_MAP", "").strip():
        raise SettingsError("TURBINE_REQUIRE_TENANTS needs TURBINE_TENANTS_CONFIG_MAP (--tenants-config-map)")
    return required


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    """A non-negative number from the environment, or the default when unset."""
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if value < 0:
        raise SettingsError(f"{name}={raw!r} must not be negative")
    return value


# Kubernetes label selector syntax (k8s.io/apimachinery/pkg/labels): requirements separated by commas,
# each `key`, `!key`, `key=value`, `key==value`, `key!=value`, `key>N`, `key<N`, `key in (v,...)` or
# `key notin (v,...)`.
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_KEY = rf"([a-z0-9]([-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_NAME}"
_VALUE = rf"({_NAME})?"
_REQUIREMENT = re.compile(
    rf"\s*(!\s*{_KEY}|{_KEY}(\s*(==|!=|=)\s*{_VALUE}|\s*[<>]\s*[0-9]+"
    rf"|\s+(in|notin)\s*\(\s*{_NAME}(\s*,\s*{_NAME})*\s*\))?)\s*"
)


def label_selector(raw: str) -> str:
    """`raw` if it is a Kubernetes label selector (or empty); a SettingsError naming the part that is not.

    Checked at start, because the API server would otherwise refuse every list and watch of the shard
    and the replica would serve nothing, with only kopf's retries in its log.
    """
    if not raw:
        return raw
    requirements, depth, current = [], 0, ""
    for character in raw:  # commas inside `in (...)` separate values, not requirements
        depth += {"(": 1, ")": -1}.get(character, 0)
        if character == "," and depth == 0:
            requirements.append(current)
            current = ""
        else:
            current += character
    for requirement in [*requirements, current]:
        if not _REQUIREMENT.fullmatch(requirement):
            raise SettingsError(
                f"TURBINE_SHARD_SELECTOR={raw!r} is not a label selector: {requirement.strip()!r}"
            )
    return raw


def sharded_from_environment() -> bool:
    """Whether this replica serves a shard (TURBINE_SHARD_SELECTOR), needed when handlers are registered."""
    return bool(os.environ.get("TURBINE_SHARD_SELECTOR", "").strip())


def poll_interval_from_environment() -> float:
    """The timer interval, needed when handlers are registered (before startup runs)."""
    return _number(os.environ, "TURBINE_POLL_INTERVAL", OperatorSettings.poll_interval)
