"""Both embedded AWS servers install every moto extension through turbine_dev.aws.extensions.install_all
(review finding D7: the rehearsal's own list lacked moto_resource_names and it failed to boot)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

import pytest

import turbine_dev.aws
import turbine_dev.strict
from turbine_dev.aws import extensions, moto_server
from turbine_dev.rehearsal.services import aws_server


def _extension_modules() -> set[str]:
    """Every `turbine_dev.aws.moto_*` module but the server, and every `turbine_dev.strict` module with an
    `install()`: what install_all must install."""
    found = set()
    for package, wanted in ((turbine_dev.aws, "moto_"), (turbine_dev.strict, "")):
        for info in pkgutil.iter_modules(package.__path__):
            name = f"{package.__name__}.{info.name}"
            if not info.name.startswith(wanted) or name in extensions.NOT_EXTENSIONS:
                continue
            module = importlib.import_module(name)
            if wanted or hasattr(module, "install"):
                found.add(name)
    return found


def test_every_extension_module_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    installed: list[str] = []
    discovered = _extension_modules()
    for name in discovered:
        module = importlib.import_module(name)
        assert hasattr(module, "install"), f"{name} is a moto_* module without install()"

        def record(*args: Any, name: str = name) -> None:
            installed.append(name)

        monkeypatch.setattr(module, "install", record)
    extensions.install_all()
    assert sorted(installed) == sorted(discovered)
    assert len(installed) == len(set(installed))


def test_moto_extensions_come_first_and_the_request_limits_after_strict_cfn() -> None:
    order = list(extensions.EXTENSIONS)
    assert order[0] == "turbine_dev.aws.moto_extensions"
    assert order.index("turbine_dev.strict.strict_cfn") < order.index(
        "turbine_dev.strict.strict_request_limits"
    )


@pytest.mark.parametrize("server", [moto_server, aws_server])
def test_both_servers_install_through_install_all_alone(server: Any) -> None:
    source = inspect.getsource(server)
    assert "install_all(" in source
    for name in extensions.EXTENSIONS:
        assert f"{name.rpartition('.')[2]}.install(" not in source, (
            f"{server.__name__} installs {name} itself"
        )
