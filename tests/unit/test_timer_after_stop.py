"""A timer's tick that takes a TurbineStack's lock after kopf stopped its timers does nothing.

kopf stops a TurbineStack's timers before it calls the delete handler, which works under the stack's lock and
forgets the stack (metrics included) once the stack is gone. A tick already past its waits could take the
lock between two attempts of the delete handler, or after the last one: it reconciled the deleted TurbineStack
as if it lived and published its metrics again (seen in CI as a deleted TurbineStack's `turbine_stack_ready`).
"""

from __future__ import annotations

import datetime
from types import SimpleNamespace
from typing import Any, cast

import kopf
import pytest

from turbine_operator.handlers.runtime import ObjectLocks, Runtime
from turbine_operator.handlers.stacks import _follow
from turbine_operator.operations.turbine_stack import StackResource


class _Flag:
    def __init__(self, value: bool) -> None:
        self.value = value

    def __bool__(self) -> bool:
        return self.value


class _Reconciler:
    def __init__(self) -> None:
        self.reconciled: list[str] = []

    def reconcile(self, resource: StackResource) -> Any:
        self.reconciled.append(resource.uid)
        raise _Reconciled


class _Reconciled(Exception):
    pass


def _runtime(reconciler: _Reconciler) -> Runtime:
    return cast(
        Runtime,
        SimpleNamespace(
            locks=ObjectLocks(),
            reconciler=reconciler,
            settings=SimpleNamespace(resync_interval=datetime.timedelta(hours=12)),
            workers=SimpleNamespace(figures=lambda uid: None),
        ),
    )


def _resource() -> StackResource:
    return StackResource(namespace="team", name="airflow", uid="uid-1", generation=1, spec={}, status={})


def _follow_once(reconciler: _Reconciler, *, stopped: bool) -> None:
    _follow(
        _runtime(reconciler),
        _resource(),
        cast(kopf.Body, None),
        cast(kopf.Patch, {}),
        cast(kopf.DaemonStopped, _Flag(stopped)),
        settled=True,
        moved=True,
    )


def test_a_tick_of_a_stopped_timer_does_not_reconcile() -> None:
    reconciler = _Reconciler()
    _follow_once(reconciler, stopped=True)
    assert reconciler.reconciled == []


def test_a_tick_of_a_running_timer_reconciles() -> None:
    # The control: the same tick with its timer running goes on to the reconcile.
    reconciler = _Reconciler()
    with pytest.raises(_Reconciled):
        _follow_once(reconciler, stopped=False)
    assert reconciler.reconciled == ["uid-1"]
