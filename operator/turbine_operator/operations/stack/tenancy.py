"""The administrator's tenant grants, read from their ConfigMap (core.access.tenancy decides with them).

Read again at most every few seconds: every look of every TurbineStack asks, and a changed grant takes
effect at the next look (refused TurbineStacks look again every minute, so a grant reaches them soon).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from turbine_operator.core.access.tenancy import (
    TENANTS_KEY,
    TenantPolicy,
    TenantPolicyError,
    parse_tenants,
    ungoverned,
)
from turbine_operator.core.api.spec import TurbineStackSpec
from turbine_operator.core.render.references import SourceKind
from turbine_operator.operations.stack.references import ObjectReader

# How long a refused TurbineStack waits before it reads the grants again.
RECHECK_REFUSED_SECONDS = 60.0
_FRESH_SECONDS = 5.0


class OutsideGrant(Exception):
    """A TurbineStack its tenant does not grant what it asks for (or whose grants cannot be read)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class TenantGrants:
    """The current TenantPolicy: ungoverned without a ConfigMap setting; raises TenantPolicyError when the
    ConfigMap cannot be read as grants (a broken policy refuses rather than opens)."""

    def __init__(
        self,
        objects: ObjectReader,
        config_map: str,
        *,
        required: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._objects = objects
        self._config_map = config_map
        self._required = required
        self._clock = clock
        self._lock = threading.Lock()
        self._read: tuple[float, TenantPolicy | TenantPolicyError] | None = None

    def within_grant(self, spec: TurbineStackSpec, namespace: str) -> TurbineStackSpec:
        """The spec with its tenant's default roles. Raises OutsideGrant (reason OutsideTenantGrant, or
        TenantPolicyInvalid) when its tenant does not grant it; ClusterError when they are unreadable."""
        try:
            policy = self.policy()
        except TenantPolicyError as error:
            raise OutsideGrant("TenantPolicyInvalid", str(error)) from None
        refusal = policy.refusal(spec, namespace)
        if refusal is not None:
            raise OutsideGrant("OutsideTenantGrant", str(refusal))
        return policy.governed(spec, namespace)

    def stack_name_prefix(self, namespace: str) -> str:
        """What the namespace's default stack names start with (its tenant's stackNamePrefix). Raises
        OutsideGrant (TenantPolicyInvalid) or ClusterError as within_grant does: a name is never chosen
        from grants that cannot be read."""
        try:
            return self.policy().stack_name_prefix(namespace)
        except TenantPolicyError as error:
            raise OutsideGrant("TenantPolicyInvalid", str(error)) from None

    def policy(self) -> TenantPolicy:
        if not self._config_map:
            return ungoverned()
        with self._lock:
            if self._read is None or self._clock() - self._read[0] > _FRESH_SECONDS:
                self._read = (self._clock(), self._policy_now())
            answer = self._read[1]
        if isinstance(answer, TenantPolicyError):
            raise answer
        return answer

    def _policy_now(self) -> TenantPolicy | TenantPolicyError:
        namespace, _, name = self._config_map.partition("/")
        where = f"ConfigMap {self._config_map}"
        stored = self._objects.read(SourceKind.CONFIG_MAP, namespace, name)  # ClusterError propagates
        if stored is None:
            return ungoverned(required=self._required, where=where)
        content = stored.data.get(TENANTS_KEY)
        if content is None:
            return TenantPolicyError(f"{where} has no key {TENANTS_KEY}")
        try:
            return parse_tenants(content.decode("utf-8"), where, required=self._required)
        except (TenantPolicyError, UnicodeDecodeError) as error:
            return error if isinstance(error, TenantPolicyError) else TenantPolicyError(f"{where}: not UTF-8")
