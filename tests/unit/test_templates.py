"""Templates as data: short-form intrinsics become the long form, and dumping is canonical."""

from __future__ import annotations

import json
from typing import Any

import pytest

from turbine_operator.core.errors import SpecError
from turbine_operator.core.render.templates import declared_parameters, dump_template, load_template


def load_value(snippet: str) -> object:
    """Loads `snippet` as the value of a resource property and returns what it became."""
    body = f"Resources:\n  Thing:\n    Type: AWS::SQS::Queue\n    Properties:\n      Value: {snippet}\n"
    return load_template(body, "test.yaml")["Resources"]["Thing"]["Properties"]["Value"]


@pytest.mark.parametrize(
    ("snippet", "long_form"),
    [
        ("!Ref Bucket", {"Ref": "Bucket"}),
        ('!Ref "AWS::Region"', {"Ref": "AWS::Region"}),
        ("!GetAtt Queue.Arn", {"Fn::GetAtt": ["Queue", "Arn"]}),
        # Attribute names may contain dots themselves; only the first dot separates the resource.
        ("!GetAtt Database.Endpoint.Address", {"Fn::GetAtt": ["Database", "Endpoint.Address"]}),
        ("!GetAtt [Queue, Arn]", {"Fn::GetAtt": ["Queue", "Arn"]}),
        ('!Sub "${AWS::StackName}-tasks"', {"Fn::Sub": "${AWS::StackName}-tasks"}),
        (
            '!Sub ["${Name}-tasks", {Name: !Ref Prefix}]',
            {"Fn::Sub": ["${Name}-tasks", {"Name": {"Ref": "Prefix"}}]},
        ),
        ('!Join ["-", [a, !Ref B]]', {"Fn::Join": ["-", ["a", {"Ref": "B"}]]}),
        (
            '!If [IsProd, !Ref Big, !Ref "AWS::NoValue"]',
            {"Fn::If": ["IsProd", {"Ref": "Big"}, {"Ref": "AWS::NoValue"}]},
        ),
        ("!Equals [!Ref Env, prod]", {"Fn::Equals": [{"Ref": "Env"}, "prod"]}),
        ('!Select [0, !GetAZs ""]', {"Fn::Select": [0, {"Fn::GetAZs": ""}]}),
        ('!Split [",", "a,b"]', {"Fn::Split": [",", "a,b"]}),
        (
            '!FindInMap [Images, !Ref "AWS::Region", Ami]',
            {"Fn::FindInMap": ["Images", {"Ref": "AWS::Region"}, "Ami"]},
        ),
        ('!GetAZs {Ref: "AWS::Region"}', {"Fn::GetAZs": {"Ref": "AWS::Region"}}),
        ('!Base64 "#!/bin/bash"', {"Fn::Base64": "#!/bin/bash"}),
        (
            "!Cidr [!GetAtt Vpc.CidrBlock, 6, 8]",
            {"Fn::Cidr": [{"Fn::GetAtt": ["Vpc", "CidrBlock"]}, 6, 8]},
        ),
        ("!ImportValue SharedVpcId", {"Fn::ImportValue": "SharedVpcId"}),
        ('!ImportValue {Fn::Sub: "${Network}-VpcId"}', {"Fn::ImportValue": {"Fn::Sub": "${Network}-VpcId"}}),
        ("!Not [!Equals [a, b]]", {"Fn::Not": [{"Fn::Equals": ["a", "b"]}]}),
        ("!And [!Condition A, !Condition B]", {"Fn::And": [{"Condition": "A"}, {"Condition": "B"}]}),
        (
            "!Or [!Condition A, !Not [!Condition B]]",
            {"Fn::Or": [{"Condition": "A"}, {"Fn::Not": [{"Condition": "B"}]}]},
        ),
        ("!Condition IsProd", {"Condition": "IsProd"}),
        ("!Length [a, b]", {"Fn::Length": ["a", "b"]}),
        ("!ToJsonString {a: !Ref B}", {"Fn::ToJsonString": {"a": {"Ref": "B"}}}),
        ("!Transform {Name: AWS::Include}", {"Fn::Transform": {"Name": "AWS::Include"}}),
        ('{"Fn::GetAtt": ["Queue", "Arn"]}', {"Fn::GetAtt": ["Queue", "Arn"]}),
    ],
)
def test_short_form_intrinsics_become_the_long_form(snippet: str, long_form: object) -> None:
    assert load_value(snippet) == long_form


def test_block_style_sub_keeps_its_text() -> None:
    body = (
        "Resources:\n"
        "  Thing:\n"
        "    Type: AWS::EC2::Instance\n"
        "    Properties:\n"
        "      UserData: !Base64\n"
        "        Fn::Sub: |\n"
        "          #!/bin/bash\n"
        "          echo ${AWS::StackName}\n"
    )
    user_data = load_template(body, "test.yaml")["Resources"]["Thing"]["Properties"]["UserData"]
    assert user_data == {"Fn::Base64": {"Fn::Sub": "#!/bin/bash\necho ${AWS::StackName}\n"}}


TEMPLATE: dict[str, Any] = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Parameters": {"Size": {"Type": "Number", "Default": 3}},
    "Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Sub": "${Size}"}}}},
    "Outputs": {"Arn": {"Value": {"Fn::GetAtt": ["Queue", "Arn"]}}},
}


@pytest.mark.parametrize("indent", [None, 2], ids=["compact", "spaces"])
@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
def test_json_template_loads_as_is(indent: int | None, as_bytes: bool) -> None:
    body = json.dumps(TEMPLATE, indent=indent)
    assert load_template(body.encode() if as_bytes else body, "t.json") == TEMPLATE


def test_json_template_indented_with_tabs_loads() -> None:
    assert load_template(json.dumps(TEMPLATE, indent="\t"), "t.json") == TEMPLATE


def test_unquoted_dates_stay_strings_and_dump() -> None:
    body = (
        "AWSTemplateFormatVersion: 2010-09-09\n"
        "Resources:\n"
        "  Role:\n"
        "    Type: AWS::IAM::Role\n"
        "    Properties:\n"
        "      AssumeRolePolicyDocument:\n"
        "        Version: 2012-10-17\n"
        "        Statement: []\n"
    )
    template = load_template(body, "t.yaml")
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert template["Resources"]["Role"]["Properties"]["AssumeRolePolicyDocument"]["Version"] == "2012-10-17"
    assert json.loads(dump_template(template)) == template


@pytest.mark.parametrize(
    "body",
    [
        "Resources: [unclosed",
        "Resources:\n  A: {Type: X\n",
        "Resources:\n  A: !Unknown x\n",
        "Resources:\n\tA: {}\n",
        # YAML allows one tag per node, so short forms cannot be nested directly (CloudFormation agrees).
        'Resources:\n  A: !Base64 !Sub "x"\n',
        "Resources:\n  A: &anchor {Type: X}\n  B: *missing\n",
    ],
    ids=[
        "unclosed-flow",
        "unclosed-mapping",
        "unknown-tag",
        "tab-indent",
        "two-tags-on-one-node",
        "bad-alias",
    ],
)
def test_invalid_yaml_raises_spec_error_naming_where(body: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_template(body, "spec.additionalTemplates.extra")
    assert caught.value.field == "spec.additionalTemplates.extra"


@pytest.mark.parametrize(
    "body",
    [
        "",
        "{}",
        "just a string",
        "- Resources\n",
        "Resources:\n",
        "Resources: []\n",
        "Resources: x\n",
        "Parameters: {}\n",
    ],
    ids=[
        "empty",
        "empty-map",
        "scalar",
        "list",
        "null-resources",
        "list-resources",
        "scalar-resources",
        "none",
    ],
)
def test_template_without_a_resources_map_raises_spec_error_naming_where(body: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_template(body, "templates/turbine-master.yaml")
    assert caught.value.field == "templates/turbine-master.yaml"
    assert "Resources" in caught.value.message


def test_dump_template_is_independent_of_key_order() -> None:
    forward = {
        "Resources": {"B": {"Type": "X", "Properties": {"z": 1, "a": 2}}, "A": {"Type": "Y"}},
        "Outputs": {},
    }
    backward = {
        "Outputs": {},
        "Resources": {"A": {"Type": "Y"}, "B": {"Properties": {"a": 2, "z": 1}, "Type": "X"}},
    }
    assert dump_template(forward) == dump_template(backward)


def test_dump_template_round_trips_and_keeps_non_ascii_text() -> None:
    template = {"Description": "Airflow für alle ✓", **TEMPLATE}
    dumped = dump_template(template)
    assert "für alle ✓".encode() in dumped
    assert load_template(dumped, "dumped.json") == template


def test_load_then_dump_gives_the_same_bytes_for_yaml_and_json_sources() -> None:
    yaml_body = (
        "AWSTemplateFormatVersion: '2010-09-09'\n"
        "Parameters:\n  Size: {Type: Number, Default: 3}\n"
        "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: !Sub '${Size}'\n"
        "Outputs:\n  Arn:\n    Value: !GetAtt Queue.Arn\n"
    )
    assert dump_template(load_template(yaml_body, "t.yaml")) == dump_template(
        load_template(json.dumps(TEMPLATE), "t.json")
    )


@pytest.mark.parametrize(
    ("template", "names"),
    [
        ({"Resources": {}}, []),
        ({"Parameters": None, "Resources": {}}, []),
        ({"Parameters": {"B": {"Type": "String"}, "A": {"Type": "Number"}}, "Resources": {}}, ["B", "A"]),
    ],
)
def test_declared_parameters_lists_the_template_parameters(
    template: dict[str, Any], names: list[str]
) -> None:
    assert list(declared_parameters(template)) == names
