"""spec.airflow.users and spec.outputsConfigMap: every CRD constraint has a case the models refuse, naming
the field as users write it (test_spec.py covers the rest of the spec)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from contract.crd import crd_constraints, crd_spec_schema
from turbine_operator.core.api.spec_additions import KeyRef
from turbine_operator.core.api.spec_airflow import (
    AirflowUser,
    DagSource,
    GitDagSource,
    OutputsConfigMap,
    S3DagSource,
)
from turbine_operator.core.errors import SpecError
from unit.test_spec import MINIMAL, parse

USERS = "spec.airflow.users"
U = f"{USERS}[]"


def user(**fields: Any) -> dict[str, Any]:
    return {
        "username": "ada",
        "email": "ada@example.com",
        "passwordSecretKeyRef": {"name": "airflow-users", "key": "ada"},
    } | fields


def with_users(*users: object) -> dict[str, Any]:
    return copy.deepcopy(MINIMAL) | {"airflow": {"users": list(users)}}


def with_ref(**ref: object) -> dict[str, Any]:
    return with_users(user(passwordSecretKeyRef={"name": "airflow-users", "key": "ada"} | ref))


def with_outputs(value: object) -> dict[str, Any]:
    return copy.deepcopy(MINIMAL) | {"outputsConfigMap": value}


ADA = f"{USERS}[ada]"
INVALID: list[tuple[str, dict[str, Any], str]] = [
    (
        "spec.airflow:rule0",
        with_users(user(), user(username="bob")),
        f"{USERS}[ada@example.com]",
    ),
    (
        "spec.airflow:rule1",
        with_users(user(), user(username="Ada", email="ada2@example.com")),
        f"{USERS}[Ada]",
    ),
    (f"{USERS}:type", with_users() | {"airflow": {"users": {"ada": {}}}}, USERS),
    (
        f"{USERS}:maxItems",
        with_users(*(user(username=f"u{i}", email=f"u{i}@x.io") for i in range(101))),
        USERS,
    ),
    (f"{U}:type", with_users("ada"), f"{USERS}[0]"),
    (
        f"{U}:required",
        with_users({"username": "ada", "email": "ada@example.com"}),
        f"{ADA}.passwordSecretKeyRef",
    ),
    (f"{U}.username:type", with_users(user(username=7)), f"{USERS}[0].username"),
    (f"{U}.username:minLength", with_users(user(username="")), f"{USERS}[0].username"),
    (f"{U}.username:maxLength", with_users(user(username="a" * 65)), f"{USERS}[{'a' * 65}].username"),
    (f"{U}.username:pattern", with_users(user(username="ada lovelace")), f"{USERS}[ada lovelace].username"),
    (f"{U}.email:type", with_users(user(email=["ada@example.com"])), f"{ADA}.email"),
    (f"{U}.email:minLength", with_users(user(email="@")), f"{ADA}.email"),
    (f"{U}.email:maxLength", with_users(user(email="a" * 250 + "@x.io")), f"{ADA}.email"),
    (f"{U}.email:pattern", with_users(user(email="ada.example.com")), f"{ADA}.email"),
    (
        f"{U}.passwordSecretKeyRef:type",
        with_users(user(passwordSecretKeyRef="s")),
        f"{ADA}.passwordSecretKeyRef",
    ),
    (f"{U}.passwordSecretKeyRef:required", with_ref(key=None) | {}, f"{ADA}.passwordSecretKeyRef.key"),
    (f"{U}.passwordSecretKeyRef.name:type", with_ref(name=1), f"{ADA}.passwordSecretKeyRef.name"),
    (f"{U}.passwordSecretKeyRef.name:minLength", with_ref(name=""), f"{ADA}.passwordSecretKeyRef.name"),
    (
        f"{U}.passwordSecretKeyRef.name:maxLength",
        with_ref(name="a" * 254),
        f"{ADA}.passwordSecretKeyRef.name",
    ),
    (f"{U}.passwordSecretKeyRef.name:pattern", with_ref(name="Users"), f"{ADA}.passwordSecretKeyRef.name"),
    (f"{U}.passwordSecretKeyRef.key:type", with_ref(key=1), f"{ADA}.passwordSecretKeyRef.key"),
    (f"{U}.passwordSecretKeyRef.key:minLength", with_ref(key=""), f"{ADA}.passwordSecretKeyRef.key"),
    (f"{U}.passwordSecretKeyRef.key:maxLength", with_ref(key="a" * 254), f"{ADA}.passwordSecretKeyRef.key"),
    (f"{U}.passwordSecretKeyRef.key:pattern", with_ref(key="a b"), f"{ADA}.passwordSecretKeyRef.key"),
    (f"{U}.role:type", with_users(user(role=["Admin"])), f"{ADA}.role"),
    (f"{U}.role:minLength", with_users(user(role="")), f"{ADA}.role"),
    (f"{U}.role:maxLength", with_users(user(role="A" * 65)), f"{ADA}.role"),
    (f"{U}.role:pattern", with_users(user(role="1Admin")), f"{ADA}.role"),
    (f"{U}.firstName:type", with_users(user(firstName=1)), f"{ADA}.firstName"),
    (f"{U}.firstName:maxLength", with_users(user(firstName="A" * 65)), f"{ADA}.firstName"),
    (f"{U}.lastName:type", with_users(user(lastName=1)), f"{ADA}.lastName"),
    (f"{U}.lastName:maxLength", with_users(user(lastName="A" * 65)), f"{ADA}.lastName"),
    ("spec.outputsConfigMap:type", with_outputs("yes"), "spec.outputsConfigMap"),
    ("spec.outputsConfigMap.name:type", with_outputs({"name": 1}), "spec.outputsConfigMap.name"),
    ("spec.outputsConfigMap.name:minLength", with_outputs({"name": ""}), "spec.outputsConfigMap.name"),
    ("spec.outputsConfigMap.name:maxLength", with_outputs({"name": "a" * 254}), "spec.outputsConfigMap.name"),
    ("spec.outputsConfigMap.name:pattern", with_outputs({"name": "Outputs"}), "spec.outputsConfigMap.name"),
]


DAGS = "spec.airflow.dags"
REPO = "https://git.example.com/data/dags.git"


def with_dags(value: object) -> dict[str, Any]:
    return copy.deepcopy(MINIMAL) | {"airflow": {"dags": value}}


def with_git(**git: object) -> dict[str, Any]:
    return with_dags({"git": {"url": REPO} | git})


def with_s3(**s3: object) -> dict[str, Any]:
    return with_dags({"s3": {"bucket": "dags-bucket"} | s3})


INVALID += [
    (f"{DAGS}:type", with_dags("git"), DAGS),
    (f"{DAGS}:rule0", with_dags({"git": {"url": REPO}, "s3": {"bucket": "dags-bucket"}}), DAGS),
    (f"{DAGS}.git:type", with_dags({"git": REPO}), f"{DAGS}.git"),
    (f"{DAGS}.git:required", with_dags({"git": {"ref": "main"}}), f"{DAGS}.git.url"),
    (f"{DAGS}.git.url:type", with_git(url=1), f"{DAGS}.git.url"),
    (f"{DAGS}.git.url:minLength", with_git(url="a@b:c"), f"{DAGS}.git.url"),
    (f"{DAGS}.git.url:maxLength", with_git(url="https://x/" + "a" * 510), f"{DAGS}.git.url"),
    # Credentials in the URL, and characters the instances' env file would read specially, are refused.
    (f"{DAGS}.git.url:pattern", with_git(url="https://me:token@git.example.com/dags.git"), f"{DAGS}.git.url"),
    (f"{DAGS}.git.url:pattern", with_git(url="https://git.example.com/$(reboot)"), f"{DAGS}.git.url"),
    # A user name before an https host would be a token: SSH URLs only.
    (
        f"{DAGS}.git.url:pattern",
        with_git(url="https://ghp_token@github.com/data/dags.git"),
        f"{DAGS}.git.url",
    ),
    (f"{DAGS}.git.ref:type", with_git(ref=1), f"{DAGS}.git.ref"),
    (f"{DAGS}.git.ref:minLength", with_git(ref=""), f"{DAGS}.git.ref"),
    (f"{DAGS}.git.ref:maxLength", with_git(ref="a" * 256), f"{DAGS}.git.ref"),
    (f"{DAGS}.git.ref:pattern", with_git(ref="-main"), f"{DAGS}.git.ref"),
    (f"{DAGS}.git.subdir:type", with_git(subdir=1), f"{DAGS}.git.subdir"),
    (f"{DAGS}.git.subdir:minLength", with_git(subdir=""), f"{DAGS}.git.subdir"),
    (f"{DAGS}.git.subdir:maxLength", with_git(subdir="a" * 256), f"{DAGS}.git.subdir"),
    (f"{DAGS}.git.subdir:pattern", with_git(subdir="/dags"), f"{DAGS}.git.subdir"),
    # No segment may leave the repository or stand for the folder itself.
    (f"{DAGS}.git.subdir:pattern", with_git(subdir="../../etc"), f"{DAGS}.git.subdir"),
    (f"{DAGS}.git.subdir:pattern", with_git(subdir="dags/.."), f"{DAGS}.git.subdir"),
    (f"{DAGS}.git.subdir:pattern", with_git(subdir="a/./b"), f"{DAGS}.git.subdir"),
    (f"{DAGS}.s3:type", with_dags({"s3": "s3://bucket"}), f"{DAGS}.s3"),
    (f"{DAGS}.s3:required", with_dags({"s3": {"prefix": "dags/"}}), f"{DAGS}.s3.bucket"),
    (f"{DAGS}.s3.bucket:type", with_s3(bucket=1), f"{DAGS}.s3.bucket"),
    (f"{DAGS}.s3.bucket:minLength", with_s3(bucket="ab"), f"{DAGS}.s3.bucket"),
    (f"{DAGS}.s3.bucket:maxLength", with_s3(bucket="a" * 64), f"{DAGS}.s3.bucket"),
    (f"{DAGS}.s3.bucket:pattern", with_s3(bucket="Dags"), f"{DAGS}.s3.bucket"),
    (f"{DAGS}.s3.prefix:type", with_s3(prefix=1), f"{DAGS}.s3.prefix"),
    (f"{DAGS}.s3.prefix:maxLength", with_s3(prefix="a/" * 128), f"{DAGS}.s3.prefix"),
    (f"{DAGS}.s3.prefix:pattern", with_s3(prefix="dags"), f"{DAGS}.s3.prefix"),
    (f"{DAGS}.s3.prefix:pattern", with_s3(prefix="../"), f"{DAGS}.s3.prefix"),
    (f"{DAGS}.s3.prefix:pattern", with_s3(prefix="team/../other/"), f"{DAGS}.s3.prefix"),
    (
        f"{DAGS}.refreshSeconds:type",
        with_dags({"git": {"url": REPO}, "refreshSeconds": "60"}),
        f"{DAGS}.refreshSeconds",
    ),
    (
        f"{DAGS}.refreshSeconds:minimum",
        with_dags({"git": {"url": REPO}, "refreshSeconds": 9}),
        f"{DAGS}.refreshSeconds",
    ),
    (
        f"{DAGS}.refreshSeconds:maximum",
        with_dags({"git": {"url": REPO}, "refreshSeconds": 86401}),
        f"{DAGS}.refreshSeconds",
    ),
]


CRED = f"{DAGS}.git.credentials"
TOKEN_REF = {"name": "git", "key": "token"}


def with_credentials(**credentials: object) -> dict[str, Any]:
    return with_git(credentials={"passwordSecretKeyRef": TOKEN_REF} | credentials)


def _ref_cases(ref: str) -> list[tuple[str, dict[str, Any], str]]:
    """The constraints of one Secret key reference of the credentials."""

    def creds(value: object) -> dict[str, Any]:
        return with_git(credentials={ref: value})

    def key_ref(**fields: object) -> dict[str, Any]:
        return creds(TOKEN_REF | fields)

    field = f"{CRED}.{ref}"
    return [
        (f"{field}:type", creds("git/token"), field),
        (f"{field}:required", creds({"name": "git"}), f"{field}.key"),
        (f"{field}.name:type", key_ref(name=1), f"{field}.name"),
        (f"{field}.name:minLength", key_ref(name=""), f"{field}.name"),
        (f"{field}.name:maxLength", key_ref(name="a" * 254), f"{field}.name"),
        (f"{field}.name:pattern", key_ref(name="Git"), f"{field}.name"),
        (f"{field}.key:type", key_ref(key=1), f"{field}.key"),
        (f"{field}.key:minLength", key_ref(key=""), f"{field}.key"),
        (f"{field}.key:maxLength", key_ref(key="a" * 254), f"{field}.key"),
        (f"{field}.key:pattern", key_ref(key="a b"), f"{field}.key"),
    ]


INVALID += [
    (f"{CRED}:type", with_git(credentials="token"), CRED),
    (f"{CRED}:rule0", with_git(credentials={"username": "me"}), CRED),
    (f"{CRED}:rule0", with_credentials(sshPrivateKeySecretKeyRef=TOKEN_REF), CRED),
    (f"{CRED}.username:type", with_credentials(username=1), f"{CRED}.username"),
    (f"{CRED}.username:minLength", with_credentials(username=""), f"{CRED}.username"),
    (f"{CRED}.username:maxLength", with_credentials(username="a" * 129), f"{CRED}.username"),
    (f"{CRED}.username:pattern", with_credentials(username="me:pw"), f"{CRED}.username"),
    *_ref_cases("passwordSecretKeyRef"),
    *_ref_cases("sshPrivateKeySecretKeyRef"),
]


def test_invalid_cases_cover_every_crd_constraint_of_users_dags_and_outputs() -> None:
    expected = {
        c
        for c in crd_constraints(crd_spec_schema())
        if c.startswith((USERS, DAGS, "spec.outputsConfigMap"))
        or c in ("spec.airflow:rule0", "spec.airflow:rule1")
    }
    assert {constraint for constraint, *_ in INVALID} == expected


@pytest.mark.parametrize(("raw", "field"), [pytest.param(r, f, id=c) for c, r, f in INVALID])
def test_invalid_users_and_outputs_name_the_offending_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse(raw)
    assert caught.value.field == field


def test_two_users_with_one_username_are_refused() -> None:
    with pytest.raises(SpecError) as caught:
        parse(with_users(user(), user(email="other@example.com")))
    assert caught.value.field == f"{USERS}[ada]"


def test_users_take_their_defaults_and_outputs_are_opt_in() -> None:
    spec = parse(with_users(user()) | {"outputsConfigMap": {}})
    assert spec.airflow.users == (
        AirflowUser(
            username="ada",
            email="ada@example.com",
            password_secret_key_ref=KeyRef(name="airflow-users", key="ada"),
            role="Viewer",
        ),
    )
    assert spec.outputs_config_map == OutputsConfigMap(name=None)
    assert parse(MINIMAL).airflow.users is None
    assert parse(MINIMAL).outputs_config_map is None
    assert parse(with_users()).airflow.users == ()


@pytest.mark.parametrize(
    "url",
    [
        REPO,
        "ssh://git@git.example.com:2222/data/dags.git",
        "git@github.com:data/dags.git",
        "git://10.213.0.1:9418/dags.git",
        "file:///srv/git/dags.git",
    ],
)
def test_git_urls_people_use_are_accepted(url: str) -> None:
    dags = parse(with_git(url=url)).airflow.dags
    assert dags == DagSource(git=GitDagSource(url=url))


def test_dag_source_defaults() -> None:
    dags = parse(with_git()).airflow.dags
    assert dags is not None
    assert dags.git == GitDagSource(url=REPO, ref="main", subdir=None)
    assert dags.refresh_seconds == 60
    s3 = parse(with_s3()).airflow.dags
    assert s3 is not None
    assert s3.s3 == S3DagSource(bucket="dags-bucket", prefix="")
    assert parse(MINIMAL).airflow.dags is None


def test_every_dag_source_field_is_read() -> None:
    git = {"url": "git@github.com:data/dags.git", "ref": "v2.1", "subdir": "airflow/dags"}
    parsed = parse(with_dags({"git": git, "refreshSeconds": 30})).airflow.dags
    assert parsed == DagSource(
        git=GitDagSource(url="git@github.com:data/dags.git", ref="v2.1", subdir="airflow/dags"),
        refresh_seconds=30,
    )
    s3 = parse(with_s3(prefix="team/dags/")).airflow.dags
    assert s3 is not None
    assert s3.s3 == S3DagSource(bucket="dags-bucket", prefix="team/dags/")


def test_dotted_names_that_stay_inside_their_root_are_accepted() -> None:
    dags = parse(with_git(subdir=".config/dags/v1..2/...")).airflow.dags
    assert dags is not None
    assert dags.git is not None
    assert dags.git.subdir == ".config/dags/v1..2/..."
    s3 = parse(with_s3(prefix=".hidden/..team/")).airflow.dags
    assert s3 is not None
    assert s3.s3 is not None
    assert s3.s3.prefix == ".hidden/..team/"
