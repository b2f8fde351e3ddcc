"""Operator settings from the environment: a bad value is refused at start, naming the variable."""

from __future__ import annotations

import os

import pytest

from turbine_operator import cli
from turbine_operator.adapters.settings import OperatorSettings, SettingsError, label_selector


@pytest.mark.parametrize(
    "selector",
    [
        "",
        "turbine.dev/shard=a",
        "turbine.dev/shard==a,team!=data",
        "shard in (a,b)",
        "shard notin ( a , b ),env!=prod",
        "!legacy",
        "tier",
        "release=",
        "generation>3",
    ],
)
def test_kubernetes_label_selectors_are_accepted(selector: str) -> None:
    assert label_selector(selector) == selector


@pytest.mark.parametrize(
    "selector",
    ["shard=a b", "shard in a", "=a", "shard=a,", ",shard=a", "sh ard=a", "shard in (a,b", "Shard.Dev/x=a",
     "shard=" + "a" * 64, "shard>=3", "shard=a;b", "shard in ()", "shard notin ( )"],
)  # fmt: skip
def test_anything_else_is_refused_naming_the_variable(selector: str) -> None:
    with pytest.raises(SettingsError, match="TURBINE_SHARD_SELECTOR"):
        label_selector(selector)


def test_the_settings_carry_a_valid_shard_selector() -> None:
    environ = {"AWS_REGION": "eu-west-1", "TURBINE_SHARD_SELECTOR": " turbine.dev/shard=a "}
    assert OperatorSettings.from_environment(environ).shard_selector == "turbine.dev/shard=a"


def test_run_refuses_a_bad_shard_selector_before_kopf_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `run` exports its flags to the environment: keep that inside this test.
    monkeypatch.setattr(os, "environ", {**os.environ, "AWS_REGION": "eu-west-1"})

    assert cli.main(["run", "--shard-selector", "shard in a"]) == 2

    assert "TURBINE_SHARD_SELECTOR='shard in a' is not a label selector" in capsys.readouterr().err


def test_the_settings_carry_the_tenants_config_map_and_whether_tenants_are_required() -> None:
    environ = {
        "AWS_REGION": "eu-west-1",
        "TURBINE_TENANTS_CONFIG_MAP": "turbine-system/turbine-tenants",
        "TURBINE_REQUIRE_TENANTS": "1",
    }
    settings = OperatorSettings.from_environment(environ)
    assert (settings.tenants_config_map, settings.require_tenants) == ("turbine-system/turbine-tenants", True)
    assert not OperatorSettings.from_environment({"AWS_REGION": "eu-west-1"}).require_tenants


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--require-tenants"], "TURBINE_REQUIRE_TENANTS needs TURBINE_TENANTS_CONFIG_MAP"),
        (["--tenants-config-map", "turbine-tenants"], "TURBINE_TENANTS_CONFIG_MAP must be namespace/name"),
    ],
)
def test_run_refuses_a_tenant_setting_it_cannot_use_before_kopf_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    monkeypatch.setattr(os, "environ", {**os.environ, "AWS_REGION": "eu-west-1"})

    assert cli.main(["run", *flags]) == 2

    assert message in capsys.readouterr().err
