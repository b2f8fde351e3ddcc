"""CloudFormation features moto 5.2.5 lacks and the Turbine templates use. Dev and test only.

`install()` enables them in the moto of the current process; `turbine_dev.aws.moto_server` calls it
before the embedded AWS serves requests. What it adds:

* `Fn::GetAtt [NestedStack, Outputs.Name]`: moto's nested `Stack` has no `get_cfn_attribute`,
  so any nested-stack output crashes stack creation with an internal error.
* Stack-level tags on nested stacks: moto creates a nested stack untagged, where CloudFormation
  propagates the parent's stack-level tags to the resources it creates, nested stacks and what they
  create included ("CloudFormation resource tagging",
  https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-resource-tags.html);
  the boot rehearsal gives instances the tags of the stack their group is in (rehearsal/host/launch.py).
* `AWS::SecretsManager::Secret` (with `GenerateSecretString`) and
  `AWS::SecretsManager::SecretTargetAttachment`: unsupported, so `Ref` to them resolves to
  nothing and the nested stacks receiving the secret ARNs fail with "Missing parameter".
* `AWS::CodeDeploy::Application` and `AWS::CodeDeploy::DeploymentGroup`: unsupported, so the
  CodeDeploy outputs the operator reads would be missing.
* `AWS::AutoScaling::ScalingPolicy` and `AWS::CloudWatch::Alarm`: skipped, so the worker set's
  scaling could not be read back; the boot rehearsal evaluates the deployed alarm and runs its policy
  (turbine_dev.aws.metric_time). As CloudFormation documents them, `Ref` is the policy's ARN and the
  alarm's name (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-autoscaling-scalingpolicy.html,
  https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-cloudwatch-alarm.html).
* `Fn::GetAtt [LogGroup, Arn]` ends in `:*`, as CloudFormation documents it ("The ARN of the log group,
  such as arn:aws:logs:us-west-1:123456789012:log-group:/mygroup:*",
  https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-logs-loggroup.html);
  moto leaves the `:*` off, and a policy on it would then not cover the group's log streams.
* `AWS::RDS::DBInstance` keeps its `DeletionProtection`, so that deleting a stack with a protected
  database fails as on AWS ("You can't delete a DB instance when deletion protection is enabled",
  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_DeleteInstance.html); moto's DeleteDBInstance
  already refuses a protected instance in AWS's words, but its CloudFormation drops the property.
* A failed stack deletion reports the resource its service refused to delete, not a dependency of it:
  CloudFormation deletes in dependency order and never tries what the refused resource depends on
  ("Delete stack fails", https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/troubleshooting.html#troubleshooting-errors-delete-stack-fails).
  moto retries every resource in set order and raises whichever failed last, so with some hash seeds a
  protected database's stack failed with "The vpc ... has dependencies" instead of RDS's refusal.
* `AWS::DynamoDB::Table` keeps its `TimeToLiveSpecification`: moto's CloudFormation drops it and the table
  answers DescribeTimeToLive DISABLED, where CloudFormation enables TTL on the attribute named
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-dynamodb-table-timetolivespecification.html).
  Celery's DynamoDB result backend then called UpdateTimeToLive at every start, which the instance roles
  rightly do not allow (the boot rehearsal's live IAM evaluation refused it); on AWS it finds TTL enabled on
  its attribute and changes nothing.

Each resource is created in moto's own service backend, so tests can read it back (for
instance the generated secrets through `GetSecretValue`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar, Self

from moto.autoscaling.models import autoscaling_backends
from moto.cloudformation import parsing
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.cloudformation.models import Stack, cloudformation_backends
from moto.cloudformation.utils import get_stack_from_s3_url
from moto.cloudwatch.models import cloudwatch_backends
from moto.codedeploy.models import codedeploy_backends
from moto.core.common_models import CloudFormationModel
from moto.dynamodb.models.table import Table
from moto.logs.models import LogGroup
from moto.rds.models import DBInstance
from moto.secretsmanager.models import secretsmanager_backends
from moto.utilities.utils import get_partition


def _nested_stack_attribute(self: Stack, attribute_name: str) -> Any:
    if attribute_name.startswith("Outputs."):
        output = self.output_map.get(attribute_name.removeprefix("Outputs."))
        if output is not None:
            return output.value
    raise UnformattedGetAttTemplateException()


def _nested_stack_with_parent_tags(
    cls: type[Stack],
    /,
    resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Stack:
    """moto's Stack.create_from_cloudformation_json, the parent's stack-level tags passed on, and its
    parameters as the strings a nested stack's Parameters are ("Map of String",
    https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-cloudformation-stack.html):
    moto passed a parent's resolved Number parameter on as a number, and the nested stack's int() of 0.9
    made it 0 (the worker set's target tracking TargetValue, GrowthThreshold)."""
    backend = cloudformation_backends[account_id][region_name]
    parent = backend.stacks.get(kwargs.get("StackId", ""))
    properties = cloudformation_json["Properties"]
    template = get_stack_from_s3_url(
        properties["TemplateURL"], account_id=account_id, partition=get_partition(region_name)
    )
    tags = {key: value for key, value in (parent.tags if parent else {}).items()
            if not key.lower().startswith("aws:")}  # fmt: skip
    parameters = {key: _parameter_string(value) for key, value in properties.get("Parameters", {}).items()}
    return backend.create_stack(
        name=resource_name, template=template, parameters=parameters, tags=tags or None
    )


def _parameter_string(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return value


def _generated_secret_string(backend: Any, generate: dict[str, Any]) -> str:
    password = backend.get_random_password(
        password_length=int(generate.get("PasswordLength", 32)),
        exclude_characters=generate.get("ExcludeCharacters", ""),
        exclude_numbers=_flag(generate, "ExcludeNumbers"),
        exclude_punctuation=_flag(generate, "ExcludePunctuation"),
        exclude_uppercase=_flag(generate, "ExcludeUppercase"),
        exclude_lowercase=_flag(generate, "ExcludeLowercase"),
        include_space=_flag(generate, "IncludeSpace"),
        require_each_included_type=_flag(generate, "RequireEachIncludedType", default=True),
    )
    password = json.loads(password)["RandomPassword"]
    template, key = generate.get("SecretStringTemplate"), generate.get("GenerateStringKey")
    if template and key:
        document = json.loads(template)
        document[key] = password
        return json.dumps(document)
    return str(password)


def _flag(properties: dict[str, Any], name: str, default: bool = False) -> bool:
    return str(properties.get(name, default)).lower() == "true"


class _TurbineModel:
    """The CloudFormationModel boilerplate the models below share; each states only what differs.

    A model sets `CFN_TYPE`, `NAME_PROPERTY` (the property that names the resource, "" if none)
    and `__module__` ("moto.<service>.turbine_extensions": moto files every model under the
    service named by the second part of its module, read when the class is created), and
    implements `create_resource`. By default a model has no `Fn::GetAtt` attributes, an update
    keeps the resource and a delete leaves the backend alone.

    Mixed in before CloudFormationModel, never subclassing it: moto's models are the *direct*
    subclasses of CloudFormationModel.
    """

    CFN_TYPE: ClassVar[str]
    NAME_PROPERTY: ClassVar[str] = ""

    def __init__(self, physical_resource_id: str) -> None:
        self.physical_resource_id = physical_resource_id

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_PROPERTY

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.CFN_TYPE

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Self:
        properties = cloudformation_json.get("Properties", {})
        return cls(cls.create_resource(resource_name, properties, account_id, region_name))

    @classmethod
    def create_resource(cls, name: str, properties: dict[str, Any], account_id: str, region_name: str) -> str:
        """Creates the resource `name` in moto's backend; returns its physical id."""
        raise NotImplementedError

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        return None

    def is_created(self) -> bool:
        return True


class SecretsManagerSecret(_TurbineModel, CloudFormationModel):
    """Its physical id (and `Fn::GetAtt Id`) is the secret's ARN."""

    __module__ = "moto.secretsmanager.turbine_extensions"
    CFN_TYPE = "AWS::SecretsManager::Secret"
    NAME_PROPERTY = "Name"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Id"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Id":
            return self.physical_resource_id
        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_resource(cls, name: str, properties: dict[str, Any], account_id: str, region_name: str) -> str:
        backend = secretsmanager_backends[account_id][region_name]
        secret_string = properties.get("SecretString")
        if secret_string is None and "GenerateSecretString" in properties:
            secret_string = _generated_secret_string(backend, properties["GenerateSecretString"])
        created = backend.create_secret(
            name=name,
            secret_string=secret_string,
            secret_binary=None,
            description=properties.get("Description"),
            tags=properties.get("Tags"),
            kms_key_id=properties.get("KmsKeyId"),
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
        return str(json.loads(created)["ARN"])

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        secretsmanager_backends[account_id][region_name].delete_secret(resource_name, None, True)


class SecretsManagerSecretTargetAttachment(_TurbineModel, CloudFormationModel):
    """Accepted and referenceable (its physical id is the secret's); the secret is not filled with
    the target's host and port."""

    __module__ = "moto.secretsmanager.turbine_extensions"
    CFN_TYPE = "AWS::SecretsManager::SecretTargetAttachment"

    @classmethod
    def create_resource(cls, name: str, properties: dict[str, Any], account_id: str, region_name: str) -> str:
        return str(properties.get("SecretId", name))


class CodeDeployApplication(_TurbineModel, CloudFormationModel):
    __module__ = "moto.codedeploy.turbine_extensions"
    CFN_TYPE = "AWS::CodeDeploy::Application"
    NAME_PROPERTY = "ApplicationName"

    @classmethod
    def create_resource(cls, name: str, properties: dict[str, Any], account_id: str, region_name: str) -> str:
        codedeploy_backends[account_id][region_name].create_application(
            name, properties.get("ComputePlatform", "Server"), properties.get("Tags", [])
        )
        return name


class CodeDeployDeploymentGroup(_TurbineModel, CloudFormationModel):
    __module__ = "moto.codedeploy.turbine_extensions"
    CFN_TYPE = "AWS::CodeDeploy::DeploymentGroup"
    NAME_PROPERTY = "DeploymentGroupName"

    @classmethod
    def create_resource(cls, name: str, properties: dict[str, Any], account_id: str, region_name: str) -> str:
        codedeploy_backends[account_id][region_name].create_deployment_group(
            application_name=properties["ApplicationName"],
            deployment_group_name=name,
            deployment_config_name=properties.get("DeploymentConfigName"),
            ec2_tag_filters=properties.get("Ec2TagFilters"),
            on_premises_instance_tag_filters=properties.get("OnPremisesInstanceTagFilters"),
            auto_scaling_groups=properties.get("AutoScalingGroups"),
            service_role_arn=properties["ServiceRoleArn"],
            auto_rollback_configuration=properties.get("AutoRollbackConfiguration"),
            deployment_style=properties.get("DeploymentStyle"),
        )
        return name


class AutoScalingScalingPolicy(_TurbineModel, CloudFormationModel):
    """A simple, step or target tracking scaling policy; its physical id (and `Ref`) is the policy's ARN."""

    __module__ = "moto.autoscaling.turbine_extensions"
    CFN_TYPE = "AWS::AutoScaling::ScalingPolicy"

    @classmethod
    def create_resource(cls, name: str, properties: dict[str, Any], account_id: str, region_name: str) -> str:
        adjustment = properties.get("ScalingAdjustment")
        cooldown = properties.get("Cooldown")
        magnitude = properties.get("MinAdjustmentMagnitude")
        warmup = properties.get("EstimatedInstanceWarmup")
        tracking = dict(properties.get("TargetTrackingConfiguration", {}))
        # CloudFormation hands parameters over as strings; the API's types are a double and a boolean.
        if "TargetValue" in tracking:
            tracking["TargetValue"] = float(tracking["TargetValue"])
        if "DisableScaleIn" in tracking:
            tracking["DisableScaleIn"] = str(tracking["DisableScaleIn"]).lower() == "true"
        backend: Any = autoscaling_backends[account_id][region_name]  # moto types the integers as str
        policy = backend.put_scaling_policy(
            name=name,
            policy_type=properties.get("PolicyType", "SimpleScaling"),
            metric_aggregation_type=properties.get("MetricAggregationType", ""),
            adjustment_type=properties.get("AdjustmentType", ""),
            as_name=properties["AutoScalingGroupName"],
            min_adjustment_magnitude=None if magnitude is None else int(magnitude),
            scaling_adjustment=None if adjustment is None else int(adjustment),
            cooldown=None if cooldown is None else int(cooldown),
            target_tracking_config=tracking,
            step_adjustments=properties.get("StepAdjustments", []),
            estimated_instance_warmup=None if warmup is None else int(warmup),
            predictive_scaling_configuration=properties.get("PredictiveScalingConfiguration", ""),
        )
        return str(policy.arn)


class CloudWatchAlarm(_TurbineModel, CloudFormationModel):
    """A metric alarm; its physical id (and `Ref`) is the alarm's name. moto stores it, never evaluates it."""

    __module__ = "moto.cloudwatch.turbine_extensions"
    CFN_TYPE = "AWS::CloudWatch::Alarm"
    NAME_PROPERTY = "AlarmName"

    @classmethod
    def create_resource(cls, name: str, properties: dict[str, Any], account_id: str, region_name: str) -> str:
        datapoints = properties.get("DatapointsToAlarm")
        cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=name,
            namespace=properties["Namespace"],
            metric_name=properties["MetricName"],
            comparison_operator=properties["ComparisonOperator"],
            evaluation_periods=int(properties["EvaluationPeriods"]),
            period=int(properties["Period"]),
            threshold=float(properties["Threshold"]),
            statistic=properties["Statistic"],
            description=properties.get("AlarmDescription", ""),
            dimensions=properties.get("Dimensions", []),
            alarm_actions=properties.get("AlarmActions", []),
            datapoints_to_alarm=None if datapoints is None else int(datapoints),
            treat_missing_data=properties.get("TreatMissingData"),
        )
        return name


def _log_group_attribute(self: LogGroup, attribute_name: str) -> str:
    if attribute_name == "Arn":
        return f"{self.arn}:*"
    raise UnformattedGetAttTemplateException()


def _after_creation(model: Any, adjust: Callable[[Any, dict[str, Any]], None]) -> None:
    """Makes `model`'s creation from a template also apply `adjust(created, Properties)`: what moto's own
    creation drops. Installed once, however often install() runs."""
    create = model.create_from_cloudformation_json
    marker = f"turbine_{adjust.__name__}"
    if getattr(create, marker, False):
        return

    def create_and_adjust(
        resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        created = create(resource_name, cloudformation_json, account_id, region_name, **kwargs)
        adjust(created, cloudformation_json["Properties"])
        return created

    setattr(create_and_adjust, marker, True)
    model.create_from_cloudformation_json = create_and_adjust


# Booleans arrive as text when they come from a parameter or an !If.
def _keep_deletion_protection(database: DBInstance, properties: dict[str, Any]) -> None:
    database.deletion_protection = str(properties.get("DeletionProtection", False)).lower() == "true"


def _keep_time_to_live(table: Table, properties: dict[str, Any]) -> None:
    specification = properties.get("TimeToLiveSpecification") or {}
    if str(specification.get("Enabled", False)).lower() == "true":
        table.ttl = {"TimeToLiveStatus": "ENABLED", "AttributeName": specification["AttributeName"]}


def _refusal_first(errors: list[Exception]) -> Exception:
    """The refusal CloudFormation would report: a service's own refusal before any dependency violation
    it caused (a VPC still holding the refused database's subnets)."""
    for error in errors:
        if getattr(error, "error_type", None) != "DependencyViolation":
            return error
    return errors[0]


def _delete_resources(self: parsing.ResourceMap) -> None:
    """moto's ResourceMap.delete, in a fixed order and raising the refusal rather than the last error."""
    remaining = sorted(
        name for name, value in self._resource_json_map.items() if value.get("DeletionPolicy") != "Retain"
    )
    while remaining:
        before, errors = len(remaining), list[Exception]()
        for name in list(remaining):
            resource = self._parsed_resources.get(name)
            if resource is not None and not isinstance(resource, str):
                try:
                    self._delete_resource(resource, self._resource_json_map[resource.logical_resource_id])
                except Exception as error:  # retried once the resources depending on it are gone
                    errors.append(error)
                    continue
                self._parsed_resources.pop(resource.logical_resource_id)
            remaining.remove(name)
        if errors and len(remaining) == before:  # nothing more can go
            raise _refusal_first(errors)


def install() -> None:
    """Idempotent. The resource models above registered themselves by subclassing."""
    _after_creation(DBInstance, _keep_deletion_protection)
    _after_creation(Table, _keep_time_to_live)
    parsing.ResourceMap.delete = _delete_resources  # type: ignore[method-assign]
    Stack.get_cfn_attribute = _nested_stack_attribute  # type: ignore[attr-defined]
    Stack.create_from_cloudformation_json = classmethod(_nested_stack_with_parent_tags)  # type: ignore[assignment,method-assign]

    LogGroup.get_cfn_attribute = _log_group_attribute  # type: ignore[method-assign]
    # moto caches its type -> model maps on first use; forget them so the new models count.
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
