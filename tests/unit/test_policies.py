"""Additional IAM policy documents: JSON or YAML in, a checked identity policy out, or a SpecError naming
the field path and saying what is allowed, without quoting more than a snippet of the document."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from turbine_operator.core.access.policies import (
    ADMINISTRATOR_ACCESS_HINT,
    MANAGED_POLICY_MAX_CHARACTERS,
    check_policy_document,
    grants_administrator_access,
    parse_policy_document,
    policy_document,
    policy_size,
)
from turbine_operator.core.errors import SpecError

FIELD = "spec.additionalPolicies[0].document"
READ_LOGS: dict[str, Any] = {
    "Sid": "ReadLogs",
    "Effect": "Allow",
    "Action": ["s3:GetObject", "s3:ListBucket"],
    "Resource": ["arn:aws:s3:::airflow-logs", "arn:aws:s3:::airflow-logs/*"],
}
VALID: dict[str, Any] = {"Version": "2012-10-17", "Statement": [READ_LOGS]}

VALID_JSON = json.dumps(VALID, indent=2)
VALID_YAML = """\
# Airflow reads its remote logs.
Version: 2012-10-17
Statement:
  - Sid: ReadLogs
    Effect: Allow
    Action:
      - s3:GetObject
      - s3:ListBucket
    Resource:
      - arn:aws:s3:::airflow-logs
      - arn:aws:s3:::airflow-logs/*
"""


def with_statement(**elements: Any) -> dict[str, Any]:
    """VALID with its statement changed: an element set to None is removed."""
    statement = {**READ_LOGS, **elements}
    return {**VALID, "Statement": [{key: value for key, value in statement.items() if value is not None}]}


def check(text: str, *, allow_administrator: bool = False) -> dict[str, Any]:
    return policy_document(text, FIELD, allow_administrator=allow_administrator)


@pytest.mark.parametrize("text", [VALID_JSON, json.dumps(VALID), VALID_JSON.replace("  ", "\t"), VALID_YAML])
def test_json_and_yaml_give_the_same_document(text: str) -> None:
    assert check(text) == VALID


def test_an_unquoted_yaml_version_stays_the_string_iam_expects() -> None:
    document = check(VALID_YAML)
    assert document["Version"] == "2012-10-17"
    assert json.loads(json.dumps(document)) == VALID


def test_a_single_statement_object_is_a_statement() -> None:
    text = json.dumps({"Version": "2012-10-17", "Statement": READ_LOGS})
    assert check(text)["Statement"] == READ_LOGS


def test_yaml_dates_in_conditions_stay_strings() -> None:
    text = VALID_YAML + "    Condition: {DateLessThan: {aws:CurrentTime: 2030-01-01T00:00:00Z}}\n"
    assert check(text)["Statement"][0]["Condition"] == {
        "DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}
    }


@pytest.mark.parametrize(
    "document",
    [
        {**VALID, "Version": "2008-10-17", "Id": "AirflowLogs"},
        with_statement(Sid=None),
        with_statement(Sid=""),
        with_statement(Action="s3:Get*"),
        with_statement(Action=["ec2:Describe?nstances", "logs:*", "sts:AssumeRole"]),
        with_statement(Action=None, NotAction="iam:*"),
        with_statement(Action=None, NotAction="*", Resource="*"),
        with_statement(Resource="*"),
        with_statement(Resource="arn:aws:s3:::my bucket/*/logs?"),
        with_statement(Resource=None, NotResource=["arn:aws:s3:::secrets/*"]),
        with_statement(Effect="Deny", Action="*", Resource="*"),
        with_statement(Effect="Deny", Action="*:*", Resource=["*"]),
        with_statement(Action="*", Resource="arn:aws:s3:::airflow-logs/*"),
        with_statement(Action="s3:*", Resource="*"),
        with_statement(Condition={}),
        with_statement(
            Condition={
                "StringEquals": {"aws:PrincipalTag/team": ["data", "ml"]},
                "Bool": {"aws:SecureTransport": True},
                "NumericLessThanEquals": {"s3:max-keys": 10, "s3:x": 2.5},
                "StringLikeIfExists": {"s3:prefix": "logs/*"},
            }
        ),
        {**VALID, "Statement": [READ_LOGS, {**READ_LOGS, "Sid": "ReadLogsAgain"}, {**READ_LOGS, "Sid": ""}]},
    ],
)
def test_valid_documents_pass_unchanged(document: dict[str, Any]) -> None:
    assert check(json.dumps(document)) == document


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"Version": "2012-10-17",\n "Statement": [}', "is not valid JSON or YAML (line 2, column 16: "),
        ('{\n\t"Version": "2012-10-17"\n\t"Statement": []\n}', "(line 3, column 2: Expecting ',' delimiter)"),
        ("Version: 2012-10-17\nStatement:\n  - Effect: Allow\n   Action: x\n", "(line 4, column "),
        ("Version: 2012-10-17\nStatement: {Resource: *}\n", 'write "*" in quotes'),
        ("Version: 2012-10-17\nStatement: !Ref Policy\n", "could not determine a constructor"),
        ("Version: 2012-10-17\n---\nVersion: 2012-10-17\n", "expected a single document"),
        ("Version: '\x00'", "is not valid JSON or YAML (unacceptable character"),
        ("x: &a [s3:GetObject]\nStatement: {Action: *a}\n", "uses a YAML alias (line 2, column 21)"),
        ("", "is empty; it must be a JSON or YAML object with Version and Statement"),
        ("  \n# nothing\n", "is empty"),
        ("null", "is empty"),
        ("[]", "must be a JSON or YAML object with Version and Statement, not a list"),
        ("- Version: 2012-10-17", "not a list"),
        ('"a policy"', "Version and Statement, not a string"),
        ("Allow everything", "not a string"),
        ("42", "not a number"),
        ("true", "not true or false"),
        ("[" * 5_000, "is nested too deeply"),
        ("[" * 5_000 + "]" * 5_000, "is nested too deeply"),
        ("Statement:\n" + "- " * 5_000 + "s3:*", "is nested too deeply"),
    ],
)
def test_text_that_is_not_a_document(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=re.escape(message)) as caught:
        parse_policy_document(text, FIELD)
    assert caught.value.field == FIELD


NOT_AN_ACTION = 'is not an action: use "*" or service:ActionName'
NOT_A_RESOURCE = 'is not a resource: use "*" or an ARN'


@pytest.mark.parametrize(
    ("document", "field", "message"),
    [
        ({**VALID, "Principal": "*"}, ".Principal", "is not a policy element; a policy document has only"),
        ({**VALID, "statement": []}, ".statement", "is not a policy element"),
        ({"Statement": [READ_LOGS]}, ".Version", 'is required: "2012-10-17"'),
        ({**VALID, "Version": "2012-10-18"}, ".Version", 'must be "2012-10-17" (or the older "2008-10-17")'),
        ({**VALID, "Version": 20121017}, ".Version", "not int"),
        ({**VALID, "Id": 7}, ".Id", "must be a string, not int"),
        ({"Version": "2012-10-17"}, ".Statement", "is required: one statement object or a non-empty list"),
        ({**VALID, "Statement": []}, ".Statement", "must be one statement object or a non-empty list"),
        ({**VALID, "Statement": "Allow all"}, ".Statement", "must be one statement object"),
        ({**VALID, "Statement": [READ_LOGS, "s3:*"]}, ".Statement[1]", "must be an object with Effect"),
        (
            with_statement(Principal={"AWS": "*"}),
            ".Statement[0].Principal",
            "belongs in resource-based policies",
        ),
        (with_statement(NotPrincipal="*"), ".Statement[0].NotPrincipal", "these are identity policies"),
        (with_statement(Actions="s3:*"), ".Statement[0].Actions", "is not a statement element; a statement"),
        (with_statement(Effect=None), ".Statement[0].Effect", "is required: Allow or Deny"),
        (with_statement(Effect="allow"), ".Statement[0].Effect", "must be Allow or Deny, not 'allow'"),
        (with_statement(Effect=True), ".Statement[0].Effect", "must be Allow or Deny, not bool"),
        (
            with_statement(NotAction="iam:*"),
            ".Statement[0]",
            "has both Action and NotAction; use exactly one",
        ),
        (with_statement(Action=None), ".Statement[0].Action", "is required (or NotAction)"),
        (with_statement(NotResource="*"), ".Statement[0]", "has both Resource and NotResource"),
        (
            with_statement(Resource=None),
            ".Statement[0].Resource",
            "is required (or NotResource); an identity",
        ),
        (
            with_statement(Action=[]),
            ".Statement[0].Action",
            "must be a string or a non-empty list of strings",
        ),
        (with_statement(Action={"s3": "*"}), ".Statement[0].Action", "not dict"),
        (with_statement(Action=["s3:GetObject", 3]), ".Statement[0].Action[1]", "must be a string, not int"),
        (with_statement(Action="s3"), ".Statement[0].Action", f"'s3' {NOT_AN_ACTION}"),
        (with_statement(Action="S3:GetObject"), ".Statement[0].Action", NOT_AN_ACTION),
        (with_statement(Action="s3:Get-Object"), ".Statement[0].Action", NOT_AN_ACTION),
        (with_statement(Action="s3:GetObject "), ".Statement[0].Action", NOT_AN_ACTION),
        (with_statement(Action="s3:*:x"), ".Statement[0].Action", NOT_AN_ACTION),
        (with_statement(Action="**"), ".Statement[0].Action", NOT_AN_ACTION),
        (with_statement(Action=None, NotAction=["iam:*", ""]), ".Statement[0].NotAction[1]", NOT_AN_ACTION),
        (with_statement(Resource="airflow-logs"), ".Statement[0].Resource", NOT_A_RESOURCE),
        (with_statement(Resource=["*", "arn:"]), ".Statement[0].Resource[1]", NOT_A_RESOURCE),
        (with_statement(Resource=None, NotResource="s3://x"), ".Statement[0].NotResource", NOT_A_RESOURCE),
        (with_statement(Resource=None, NotResource=[]), ".Statement[0].NotResource", "non-empty list"),
        (with_statement(Sid="Read logs"), ".Statement[0].Sid", "must be a string of letters and digits"),
        (with_statement(Sid=1), ".Statement[0].Sid", "letters and digits, not int"),
        ({**VALID, "Statement": [READ_LOGS, READ_LOGS]}, ".Statement[1].Sid", "repeats the Sid ReadLogs of"),
        (with_statement(Condition="aws:SecureTransport"), ".Statement[0].Condition", "must be a map of"),
        (with_statement(Condition={"Bool": "true"}), ".Statement[0].Condition.Bool", "map of condition keys"),
        (
            with_statement(Condition={"Bool": {"k": {"v": 1}}}),
            ".Statement[0].Condition.Bool.k",
            "number or bool",
        ),
        (with_statement(Condition={"Bool": {"k": [None]}}), ".Statement[0].Condition.Bool.k", "list of them"),
    ],
)
def test_invalid_documents_name_the_field(document: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(SpecError, match=re.escape(message)) as caught:
        check(json.dumps(document))
    assert caught.value.field == FIELD + field


def yaml_document(**elements: str) -> str:
    """A YAML document with one statement object; each keyword replaces Version or a statement element."""
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "'*'", **elements}
    version = statement.pop("Version", "2012-10-17")
    lines = "".join(f"  {key}: {value}\n" for key, value in statement.items())
    return f"Version: {version}\nStatement:\n{lines}"


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        (yaml_document(Version="2012"), ".Version", "not int"),
        (yaml_document(Version="!!timestamp 2012-10-17"), ".Version", "not date"),
        (yaml_document(Sid="123"), ".Statement.Sid", "letters and digits, not int"),
        (yaml_document(Effect="yes"), ".Statement.Effect", "must be Allow or Deny, not bool"),
        (
            yaml_document(Action="[s3:GetObject, null]"),
            ".Statement.Action[1]",
            "must be a string, not NoneType",
        ),
        (yaml_document(Resource="12:30"), ".Statement.Resource", "not int"),
        (
            yaml_document(Condition="{Bool: {1: true}}"),
            ".Statement.Condition.Bool.1",
            "named by a string, not int",
        ),
        (
            yaml_document(Condition="{NumericEquals: {k: .nan}}"),
            ".Statement.Condition.NumericEquals.k",
            "number",
        ),
        (
            yaml_document(Condition="{Bool: {k: !!binary aGk=}}"),
            ".Statement.Condition.Bool.k",
            "number or boolean",
        ),
    ],
)
def test_yaml_scalars_that_are_not_strings(text: str, field: str, message: str) -> None:
    with pytest.raises(SpecError, match=re.escape(message)) as caught:
        check(text)
    assert caught.value.field == FIELD + field


def test_a_yaml_document_like_users_write_it() -> None:
    assert check(yaml_document(Sid="Read", Resource="arn:aws:s3:::logs/*")) == {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::logs/*",
            "Sid": "Read",
        },
    }


def test_statement_errors_name_the_sid() -> None:
    with pytest.raises(SpecError, match=r"'s3:Read Logs' is not an action.* \(Sid ReadLogs\)$"):
        check(json.dumps(with_statement(Action="s3:Read Logs")))


ADMIN_STATEMENTS: list[dict[str, Any]] = [
    {"Effect": "Allow", "Action": "*", "Resource": "*"},
    {"Effect": "Allow", "Action": "*:*", "Resource": "*"},
    {"Effect": "Allow", "Action": ["s3:GetObject", "*"], "Resource": ["arn:aws:s3:::b", "*"]},
    {"Effect": "Allow", "Action": ["*:*"], "Resource": ["*"]},
    {
        "Effect": "Allow",
        "Action": "*",
        "Resource": "*",
        "Condition": {"Bool": {"aws:MultiFactorAuthPresent": True}},
    },
]


@pytest.mark.parametrize("statement", ADMIN_STATEMENTS)
def test_administrator_access_is_refused(statement: dict[str, Any]) -> None:
    document = {**VALID, "Statement": [READ_LOGS, {"Sid": "Everything", **statement}]}
    message = "statement 1 (Sid Everything) allows every action on every resource"
    with pytest.raises(
        SpecError, match=re.escape(message) + ".*" + re.escape(ADMINISTRATOR_ACCESS_HINT)
    ) as caught:
        check(json.dumps(document))
    assert caught.value.field == f"{FIELD}.Statement[1]"


@pytest.mark.parametrize("statement", ADMIN_STATEMENTS)
def test_administrator_access_is_allowed_when_the_spec_opts_in(statement: dict[str, Any]) -> None:
    document = {**VALID, "Statement": statement}
    assert grants_administrator_access(statement)
    assert check(json.dumps(document), allow_administrator=True) == document


def test_administrator_access_in_yaml_without_a_sid() -> None:
    text = "Version: 2012-10-17\nStatement:\n  Effect: Allow\n  Action: '*'\n  Resource: '*'\n"
    with pytest.raises(SpecError, match=r"statement 0 allows every action on every resource") as caught:
        check(text)
    assert caught.value.field == f"{FIELD}.Statement"
    assert "spec.allowAdministratorPolicies: true" in ADMINISTRATOR_ACCESS_HINT


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Deny", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::*"},
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Allow", "Action": 5, "Resource": "*"},
        # Near misses of the effective-grant cases below: each is one step narrower.
        {"Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:Tag*", "Resource": "*"},
        # Escalation actions on resources that are not of their kind reach nothing.
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::123456789012:user/ci"},
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:s3:::airflow-logs/*"},
        {"Effect": "Allow", "Action": "iam:*", "Resource": "arn:aws:iam::123456789012:instance-profile/*"},
        {"Effect": "Allow", "Action": ["lambda:InvokeFunction", "ssm:GetParameter*"], "Resource": "*"},
        {"Effect": "Allow", "Action": "ssm:SendCommand", "Resource": "arn:aws:ssm:*:*:document/AWS-Run*"},
        {"Effect": "Allow", "Action": "iam:*", "Resource": "arn:aws:iam:us-east-1:*:*"},
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:s3:::logs/*"},
        {"Effect": "Allow", "NotAction": "*", "Resource": "*"},
        {"Effect": "Allow", "NotAction": "*:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:*:*:*:secret:app-*"},
        {"Effect": "Allow", "Action": "*", "NotResource": "*"},
        {"Effect": "Allow", "Action": "iam:*", "NotResource": "arn:aws:iam::*:*"},
        {"Effect": "Allow", "Action": "ec2:*", "NotResource": "arn:aws:s3:::secrets/*"},
    ],
)
def test_not_administrator_access(statement: dict[str, Any]) -> None:
    assert not grants_administrator_access(statement)
    if statement["Action" if "Action" in statement else "NotAction"] != 5:
        assert check(json.dumps({**VALID, "Statement": statement}))


EFFECTIVE_ADMINISTRATOR_GRANTS = [
    ({"Action": "iam:*", "Resource": "*"}, "allows iam:AttachRolePolicy on every role"),
    ({"Action": "iam:putrolepolicy", "Resource": "*"}, "allows iam:PutRolePolicy on every role"),
    ({"NotAction": "s3:*", "Resource": "*"}, "allows every action but those in NotAction on every resource"),
    ({"NotAction": ["iam:*", "sts:*"], "Resource": "*"}, "allows every action but those in NotAction"),
    ({"NotAction": "iam:*", "Resource": "*"}, "allows every action but those in NotAction"),
    ({"Action": "*", "NotResource": "arn:aws:s3:::secrets/*"}, "allows every action on every resource"),
    ({"Action": "*", "Resource": "arn:aws:*:*:*:*"}, "allows every action on every resource"),
    ({"Action": "*", "Resource": "arn:*"}, "allows every action on every resource"),
    ({"Action": "*", "Resource": "arn:aws:*:*:123456789012:*"}, "allows every action on every resource"),
    ({"Action": "*", "Resource": "arn:aws:iam::*:*"}, "allows iam:AttachRolePolicy on every role"),
    ({"Action": "iam:*", "Resource": "arn:aws:iam::123456789012:role/*"}, "on every role"),
    ({"Action": "iam:Put*", "Resource": "*"}, "allows iam:PutRolePolicy on every role"),
    ({"Action": "iam:*Policy", "Resource": "*"}, "allows iam:AttachRolePolicy on every role"),
    ({"Action": "iam:Attach?olePolicy", "Resource": "*"}, "allows iam:AttachRolePolicy on every role"),
    ({"Action": "iam:PassRole", "Resource": "*"}, "allows iam:PassRole on every role"),
    (
        {"Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/*"},
        "allows sts:AssumeRole on every role",
    ),
    ({"Action": "iam:CreateAccessKey", "Resource": "*"}, "allows iam:CreateAccessKey on every user"),
    ({"Action": "iam:CreatePolicyVersion", "Resource": "*"}, "on every policy"),
    (
        {"Action": "iam:*", "NotResource": "arn:aws:iam::*:user/*"},
        "allows iam:AttachRolePolicy on every role but those in NotResource",
    ),
    # Named resources count: the policy is attached to the stack's own roles (issue 27 tried these with
    # render), and a named role or policy hands out whatever it holds.
    (
        {"Action": "iam:*", "Resource": "arn:aws:iam::123456789012:role/airflow-*"},
        "allows iam:AttachRolePolicy on the role arn:aws:iam::123456789012:role/airflow-*",
    ),
    (
        {"Action": "iam:PutRolePolicy", "Resource": "arn:aws:iam::123456789012:role/prod-airflow-Worker*"},
        "allows iam:PutRolePolicy on the role",
    ),
    (
        {"Action": "iam:UpdateAssumeRolePolicy", "Resource": "arn:aws:iam::*:role/team/*"},
        "allows iam:UpdateAssumeRolePolicy on the role",
    ),
    (
        {"Action": "iam:PassRole", "Resource": "arn:aws:iam::123456789012:role/task"},
        "allows iam:PassRole on the role arn:aws:iam::123456789012:role/task",
    ),
    (
        {"Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/reader"},
        "allows sts:AssumeRole on the role",
    ),
    (
        {"Action": "iam:CreatePolicyVersion", "Resource": "arn:aws:iam::123456789012:policy/data-access"},
        "allows iam:CreatePolicyVersion on the policy",
    ),
    (
        {
            "Action": "lambda:UpdateFunctionCode",
            "Resource": "arn:aws:lambda:eu-west-1:123456789012:function:etl",
        },
        "allows lambda:UpdateFunctionCode on the function",
    ),
    ({"Action": "ssm:SendCommand", "Resource": "*"}, "allows ssm:SendCommand on every instance"),
    (
        {"Action": "ssm:StartSession", "Resource": "arn:aws:ec2:*:*:instance/*"},
        "allows ssm:StartSession on every instance",
    ),
]


@pytest.mark.parametrize(("statement", "what"), EFFECTIVE_ADMINISTRATOR_GRANTS)
def test_effective_administrator_grants_are_refused(statement: dict[str, Any], what: str) -> None:
    document = {**VALID, "Statement": {"Effect": "Allow", **statement}}

    with pytest.raises(SpecError, match=re.escape(what)) as caught:
        check(json.dumps(document))

    assert caught.value.field == f"{FIELD}.Statement"
    assert "administrator access" in caught.value.message
    assert check(json.dumps(document), allow_administrator=True) == document


def padded_to(size: int) -> dict[str, Any]:
    """A valid document whose compact JSON is exactly `size` characters."""
    document = with_statement(Resource="arn:aws:s3:::airflow-logs/")
    document["Statement"][0]["Resource"] += "a" * (size - policy_size(document))
    assert policy_size(document) == size
    return document


def test_policy_size_counts_characters_without_whitespace() -> None:
    document = with_statement(Sid="Logs", Resource="arn:aws:s3:::logs/é in a key")
    compact = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    assert policy_size(document) == len(compact)
    assert policy_size(check(json.dumps(document, indent=4))) == len(compact)


def test_a_document_at_the_size_limit_is_accepted() -> None:
    document = padded_to(MANAGED_POLICY_MAX_CHARACTERS)
    assert check(json.dumps(document, indent=2)) == document


def test_a_document_over_the_size_limit_is_refused() -> None:
    document = padded_to(MANAGED_POLICY_MAX_CHARACTERS + 1)
    message = "is 6145 characters without whitespace; IAM managed policies allow at most 6144"
    with pytest.raises(SpecError, match=re.escape(message)) as caught:
        check(json.dumps(document))
    assert caught.value.field == FIELD


def test_check_policy_document_takes_a_parsed_document() -> None:
    check_policy_document(copy.deepcopy(VALID), FIELD, allow_administrator=False)
    with pytest.raises(SpecError, match="allows every action"):
        check_policy_document(with_statement(Action="*", Resource="*"), FIELD, allow_administrator=False)


LONG = "x" * 5000


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(with_statement(Resource=["arn:aws:s3:::" + LONG]))[:-3] + "}}",
        json.dumps(with_statement(Resource="arn:aws:s3:::" + LONG)).replace("[", "{", 1),
        "Version: 2012-10-17\nStatement: [" + LONG + "\n  - x",
        "Version: 2012-10-17\nStatement: {Effect: Allow, Action: '" + LONG + "'}",
        "Version: 2012-10-17\n" + LONG + ": true\nStatement: []",
        json.dumps(with_statement(Action=None, **{LONG: "s3:*"})),
        json.dumps(with_statement(Resource=["*", LONG])),
        json.dumps(with_statement(Sid=LONG + "!")),
        json.dumps(with_statement(Condition={LONG: {LONG: [{}]}})),
        "Version: 2012-10-17\n" + "Statement: !" + LONG,
        "Version: '" + LONG + "'",
        json.dumps(with_statement(Resource="arn:aws:s3:::" + LONG * 2)),
    ],
)
def test_errors_quote_only_a_snippet_of_a_large_document(text: str) -> None:
    assert len(text) > 5000
    with pytest.raises(SpecError) as caught:
        check(text)
    assert len(str(caught.value)) < 300, str(caught.value)
