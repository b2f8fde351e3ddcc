"""The Lease that tells replicas which one is active (coordination.k8s.io/v1), read and written with
optimistic concurrency: a write based on an outdated read is refused (409) and reported as LeaseTaken."""

from __future__ import annotations

import datetime
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from turbine_operator.adapters.kube.cluster import cluster_error
from turbine_operator.core.errors import ClusterError
from turbine_operator.core.plan.leadership import LeaseRecord

_TIMEOUT = 5  # below the renew deadline: a hung request must not outlive the leadership it renews


class LeaseTaken(Exception):
    """Another replica wrote the Lease first."""


class Leases:
    def __init__(self, client: kubernetes.client.ApiClient, namespace: str, name: str) -> None:
        self._api: Any = kubernetes.client.CoordinationV1Api(client)
        self.namespace, self.name = namespace, name

    def read(self) -> LeaseRecord | None:
        try:
            lease = self._api.read_namespaced_lease(self.name, self.namespace, _request_timeout=_TIMEOUT)
        except ApiException as error:
            if error.status == 404:
                return None
            raise cluster_error(f"reading Lease {self}", error) from None
        except HTTPError as error:
            raise ClusterError(f"reading Lease {self}: {type(error).__name__}", transient=True) from None
        spec = lease.spec
        return LeaseRecord(
            holder=str(spec.holder_identity or ""),
            duration_seconds=float(spec.lease_duration_seconds or 0),
            version=str(lease.metadata.resource_version),
            transitions=int(spec.lease_transitions or 0),
        )

    def write(
        self, based_on: LeaseRecord | None, holder: str, duration_seconds: float, transitions: int
    ) -> LeaseRecord:
        """Creates the Lease, or replaces the version `based_on` was read from; LeaseTaken if it moved on."""
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        spec: dict[str, Any] = {
            "holderIdentity": holder,
            "leaseDurationSeconds": int(duration_seconds),
            "leaseTransitions": transitions,
            "renewTime": now,
        }
        if based_on is None or based_on.holder != holder:
            spec["acquireTime"] = now
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if based_on is not None:
            metadata["resourceVersion"] = based_on.version
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}
        try:
            if based_on is None:
                written = self._api.create_namespaced_lease(self.namespace, body, _request_timeout=_TIMEOUT)
            else:
                written = self._api.replace_namespaced_lease(
                    self.name, self.namespace, body, _request_timeout=_TIMEOUT
                )
        except ApiException as error:
            if error.status == 409:
                raise LeaseTaken(holder) from None
            raise cluster_error(f"writing Lease {self}", error) from None
        except HTTPError as error:
            raise ClusterError(f"writing Lease {self}: {type(error).__name__}", transient=True) from None
        return LeaseRecord(holder, duration_seconds, str(written.metadata.resource_version), transitions)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"
