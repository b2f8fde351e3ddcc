"""The shape of a TurbineStack's status, declared once for the CRD (core/api/crd.py) and `kubectl explain`.

The operator writes status as merge patches built in core/report/status.py; these models describe the fields
those patches may hold. They are the schema, not a second writer: nothing validates a patch with them.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter
from pydantic.dataclasses import dataclass

from turbine_operator.core.api.api_types import api

Generation = Annotated[int, Field(json_schema_extra={"format": "int64"})]


@dataclass(frozen=True, config=api())
class Condition:
    """One aspect of the current state."""

    type: Annotated[str, Field(max_length=316)]
    """Ready, Reconciling or Stalled."""
    status: Literal["True", "False", "Unknown"]
    """True, False or Unknown."""
    last_transition_time: datetime.datetime
    """When status last changed."""
    reason: Annotated[str, Field(max_length=1024)]
    """A CamelCase machine-readable reason."""
    message: Annotated[str, Field(max_length=32768)]
    """A human-readable explanation."""
    observed_generation: Generation | None = None
    """The metadata.generation this condition was computed from."""


@dataclass(frozen=True, config=api())
class ResourceChange:
    """One resource change."""

    action: str | None = None
    """Add, Modify, Remove, Import or Dynamic."""
    logical_resource_id: str | None = None
    """The resource's logical id in the template."""
    resource_type: str | None = None
    """The CloudFormation resource type."""
    replacement: str | None = None
    """For Modify, whether the resource is replaced (True, False or Conditional)."""


@dataclass(frozen=True, config=api())
class PendingChangeSet:
    """A change set that waits for approval (updatePolicy Manual) or is being prepared."""

    name: str | None = None
    """Name of the change set; put it in spec.approvedChangeSet to execute it."""
    created_at: datetime.datetime | None = None
    """When CloudFormation created the change set."""
    summary: str | None = None
    """A one-line summary, for example "1 to add, 2 to modify (1 replaced)"."""
    changes: Annotated[tuple[ResourceChange, ...], Field(max_length=100)] | None = None
    """The resource changes, as CloudFormation computed them (first 100)."""


@dataclass(frozen=True, config=api())
class DriftedResource:
    """One drifted resource."""

    stack: str | None = None
    """The (nested) stack the resource belongs to."""
    logical_resource_id: str | None = None
    """The resource's logical id."""
    resource_type: str | None = None
    """The CloudFormation resource type."""
    status: str | None = None
    """MODIFIED or DELETED."""
    differences: str | None = None
    """A short summary of the property differences."""


@dataclass(frozen=True, config=api())
class DriftStatus:
    """What the last drift checks found."""

    in_sync: bool | None = None
    """True when neither spec drift nor resource drift was found."""
    spec_in_sync: bool | None = None
    """Whether the stack's template, parameters and tags match what the spec renders to."""
    spec_differences: Annotated[tuple[str, ...], Field(max_length=20)] | None = None
    """How the stack differs from the spec, one line each (first 20)."""
    last_spec_check_time: datetime.datetime | None = None
    """When the stack was last compared with the spec."""
    resource_drift_status: str | None = None
    """CloudFormation's stack drift status (IN_SYNC, DRIFTED, UNKNOWN or NOT_CHECKED)."""
    drifted_resource_count: int | None = None
    """How many resources drifted, nested stacks included."""
    drifted_resources: Annotated[tuple[DriftedResource, ...], Field(max_length=50)] | None = None
    """The drifted resources (first 50)."""
    last_check_time: datetime.datetime | None = None
    """When CloudFormation drift detection last completed."""
    detection_id: str | None = None
    """The drift detection in progress, if any."""
    last_request: str | None = None
    """The turbine.dev/requested-drift-check annotation value last acted on."""


@dataclass(frozen=True, config=api())
class WorkersStatus:
    """The Celery worker group, refreshed on the operator's worker interval."""

    desired: int | None = None
    """Desired capacity of the worker autoscaling group."""
    in_service: int | None = None
    """Workers in service."""
    min: int | None = None
    """Minimum size of the group."""
    max: int | None = None
    """Maximum size of the group."""
    busy: int | None = None
    """In-service workers running a task: each protects itself from scale-in while it does."""
    cluster_load: str | None = None
    """The latest Turbine cluster load (0 to 1): task slots wanted over task slots in service."""
    queued_tasks: int | None = None
    """Tasks in the broker queue that no worker has taken yet, as the load-metric Lambda last read it."""
    summary: str | None = None
    """In service / desired, for kubectl get."""
    last_update_time: datetime.datetime | None = None
    """When these figures were read from AWS."""


@dataclass(frozen=True, config=api())
class FailedUser:
    """A declared Airflow user the scheduler could not apply."""

    username: str | None = None
    """The user's name."""
    reason: str | None = None
    """Why, as the scheduler reported it (no password)."""


@dataclass(frozen=True, config=api())
class AirflowUsersStatus:
    """The declared Airflow users as published to the stack's secret and applied by the scheduler."""

    version: str | None = None
    """Version of the published users document (derived from the declared fields and the password
    Secrets' object versions, never from a password)."""
    secret_arn: str | None = None
    """The stack's users secret that version was published to (its ARN, never its value)."""
    declared: int | None = None
    """How many users the spec declares."""
    applied_version: str | None = None
    """The version the scheduler last applied; equal to version once the cluster converged."""
    applied: tuple[str, ...] | None = None
    """Users the scheduler applied in that version."""
    failed: tuple[FailedUser, ...] | None = None
    """Users the scheduler could not apply, and why."""
    unmanaged: tuple[str, ...] | None = None
    """Airflow users not declared in the spec, which the operator leaves alone."""
    applied_time: datetime.datetime | None = None
    """When the scheduler applied that version."""
    published_time: datetime.datetime | None = None
    """When the operator published that version; its report is looked for on every tick for 10 minutes,
    then at each resync."""


@dataclass(frozen=True, config=api())
class DagImportError:
    """A DAG file of the bundle that fails to import."""

    file: str | None = None
    """The file, relative to the bundle (spec.airflow.dags.git.subdir or s3.prefix)."""
    error: str | None = None
    """The exception that stopped the import (the last line of its traceback)."""


@dataclass(frozen=True, config=api())
class DagsStatus:
    """The turbine-dags bundle as the scheduler last reported it."""

    revision: str | None = None
    """The git commit the DAG processor last refreshed the bundle to (S3 bundles have none)."""
    refreshed_time: datetime.datetime | None = None
    """When the scheduler first reported this revision and these import errors (the DAG processor's refresh
    that found them)."""
    import_errors: tuple[DagImportError, ...] | None = None
    """DAG files of the bundle that fail to import; empty when every file imports."""
    checked_time: datetime.datetime | None = None
    """When the operator last read the scheduler's report."""
    credentials_version: str | None = None
    """Version of the git credentials last published to the stack's connection secret (derived from the
    Secret's object version, never from the credential)."""
    credentials_secret_arn: str | None = None
    """The connection secret they were published to (its ARN, never its value)."""


@dataclass(frozen=True, config=api())
class TurbineStackStatus:
    """What the operator last observed and did."""

    observed_generation: Generation = 0
    """The metadata.generation this status describes; 0 until the operator first reconciles the object."""
    conditions: (
        Annotated[
            tuple[Condition, ...],
            Field(
                json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}
            ),
        ]
        | None
    ) = None
    """Ready, Reconciling and Stalled, following the Kubernetes condition conventions (kstatus)."""
    stack_name: str | None = None
    """Name of the CloudFormation stack."""
    region: str | None = None
    """AWS region of the stack."""
    stack_id: str | None = None
    """ARN of the CloudFormation stack."""
    stack_status: str | None = None
    """The CloudFormation stack status, for example CREATE_COMPLETE."""
    stack_status_reason: str | None = None
    """Why the stack is in its status; for failures, the first failing resource and its reason."""
    stack_last_updated_time: str | None = None
    """When the stack was last updated (its creation time before any update), as CloudFormation
    reported it: a listing of the region's stacks that shows another time wakes the TurbineStack."""
    outputs: Mapping[str, str] | None = None
    """The stack's outputs (Turbine's templates output no secrets)."""
    pending_change_set: PendingChangeSet | None = None
    """A change set that waits for approval (updatePolicy Manual) or is being prepared."""
    desired_hash: str | None = None
    """Hash of what the current spec renders to (templates, parameters, tags, options)."""
    last_applied_hash: str | None = None
    """Hash of what the stack was last brought to successfully."""
    last_attempted_hash: str | None = None
    """Hash of the last change set executed, whether or not it succeeded."""
    continued_rollback_hash: str | None = None
    """Hash for which ContinueUpdateRollback was tried once after UPDATE_ROLLBACK_FAILED."""
    delete_retries: int | None = None
    """While the TurbineStack is being deleted: how many times DeleteStack was sent again after the stack
    ended in DELETE_FAILED."""
    next_delete_attempt_time: datetime.datetime | None = None
    """While the stack is in DELETE_FAILED: when DeleteStack is sent again at the earliest (the gaps double
    from 1 to at most 30 minutes)."""
    change_set_requests: int | None = None
    """How many change sets the operator has created for this TurbineStack. Part of each CreateChangeSet's
    ClientToken: a retry of a request repeats it, and a later request for a change set of the same name
    (a spec that went A, B and back to A) does not, since CloudFormation would take it for the retry."""
    last_sync_time: datetime.datetime | None = None
    """When the operator last compared the stack with the spec. While an operation is in flight, only a look
    that changed the status records it: a settled stack's resync is scheduled from it."""
    drift: DriftStatus | None = None
    """What the last drift checks found."""
    workers: WorkersStatus | None = None
    """The Celery worker group, refreshed on the operator's worker interval."""
    dags: DagsStatus | None = None
    """The DAG bundle of spec.airflow.dags: the deployed revision and any import errors."""
    airflow_error: str | None = None
    """Why the users, the DAG credentials or the DAG report could not be read or written at the last
    reconcile (AWS's answer); absent when they could."""
    airflow_users: AirflowUsersStatus | None = None
    """The users of spec.airflow.users: the version published and what the scheduler reported."""
    last_handled_configuration: str | None = None
    """The operator's record of the spec, labels and drift-check annotation it last handled (compact JSON,
    strings over 1,024 characters as their SHA-256), to tell a change from a status write. Not for users."""


def status_schema() -> dict[str, Any]:
    """The JSON schema of the status, by CRD names."""
    return TypeAdapter(TurbineStackStatus).json_schema(by_alias=True)
