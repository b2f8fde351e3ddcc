"""Route 53 alias records to a load balancer, as AWS creates and refuses them. Dev and test only.

moto 5.2.5 cannot answer `Fn::GetAtt [LoadBalancer, CanonicalHostedZoneID]` (NotImplementedError), and its
`AWS::Route53::RecordSet` accepts any alias target, any TTL beside it, and any name in any zone. After
`install()` the embedded AWS:

- gives every Elastic Load Balancing v2 load balancer the canonical hosted zone id of its Region (AWS
  publishes one per Region and load balancer family; here one made-up id per Region), the value an alias
  to it must name ("ELB load balancer: Specify the value of the hosted zone ID for the load balancer").
  https://docs.aws.amazon.com/Route53/latest/APIReference/API_AliasTarget.html
- refuses an alias whose HostedZoneId is not the canonical zone of a load balancer with that DNS name,
  in Route 53's words ("Tried to create an alias that targets <name>., type A in zone <zone>, but the
  alias target name does not lie within the target zone");
- refuses a record with both an alias and TTL or ResourceRecords ("Expected exactly one of
  [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId]").
  https://docs.aws.amazon.com/Route53/latest/APIReference/API_ResourceRecordSet.html
- gives hosted zones ids as Route 53 does, "Z" and uppercase letters and digits (moto's lack the Z), so
  a parameter that checks the form accepts them.
  https://docs.aws.amazon.com/Route53/latest/APIReference/API_HostedZone.html
- refuses a name outside the hosted zone ("RRSet with DNS name <name>. is not permitted in zone
  <zone>.").
  https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/resource-record-sets-values-alias-common.html

Refused at CreateStack, UpdateStack or ExecuteChangeSet: harsher than AWS, which fails the resource
later, never more lenient.
"""

from __future__ import annotations

import hashlib
from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.elbv2.models import FakeLoadBalancer, elbv2_backends
from moto.route53.models import HostedZoneIdentifier, RecordSet, route53_backends
from moto.utilities.utils import get_partition


def canonical_hosted_zone_id(region: str) -> str:
    """The stand-in's canonical hosted zone id of the load balancers of `region`."""
    return "Z" + hashlib.sha256(f"elb:{region}".encode()).hexdigest()[:13].upper()


def _load_balancer_attribute(original: Any) -> Any:
    def get_cfn_attribute(self: Any, attribute_name: str) -> Any:
        if attribute_name == "CanonicalHostedZoneID":
            return canonical_hosted_zone_id(self.arn.split(":")[3])
        return original(self, attribute_name)

    return get_cfn_attribute


def _fqdn(name: str) -> str:
    return name.rstrip(".").lower() + "."


def refusal(properties: dict[str, Any], zone_name: str, account_id: str, region: str) -> str | None:
    """Route 53's words for what it refuses in this (resolved) record set in `zone_name`, or None."""
    name, record_type = _fqdn(str(properties["Name"])), str(properties.get("Type"))
    zone = _fqdn(zone_name)
    if name != zone and not name.endswith("." + zone):
        return f"RRSet with DNS name {name} is not permitted in zone {zone}"
    alias = properties.get("AliasTarget")
    if alias is None:
        return None
    if "TTL" in properties or "ResourceRecords" in properties:
        return (
            "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or "
            f"TrafficPolicyInstanceId], but found more than one in Change with [Action=CREATE, Name={name}, "
            f"Type={record_type}, SetIdentifier=null]"
        )
    target = _fqdn(str(alias["DNSName"]))
    load_balancers = elbv2_backends[account_id][region].load_balancers.values()
    if not any(
        _fqdn(balancer.dns_name) == target and alias.get("HostedZoneId") == canonical_hosted_zone_id(region)
        for balancer in load_balancers
    ):
        return (
            f"Tried to create an alias that targets {target}, type {record_type} in zone "
            f"{alias.get('HostedZoneId')}, but the alias target name does not lie within the target zone"
        )
    return None


def _checked_record(original: Any) -> Any:
    def create(cls: Any, *args: Any, **kwargs: Any) -> Any:
        _, cloudformation_json, account_id, region_name = args[:4]
        properties = cloudformation_json["Properties"]
        backend = route53_backends[account_id][get_partition(region_name)]
        zone: Any = (
            backend.get_hosted_zone_by_name(properties["HostedZoneName"])
            if properties.get("HostedZoneName")
            else backend.get_hosted_zone(properties["HostedZoneId"])
        )
        if (message := refusal(properties, zone.name, account_id, region_name)) is not None:
            raise ValidationError(message=message)
        return original.__func__(cls, *args, **kwargs)

    create.turbine_checked = True  # type: ignore[attr-defined]
    return classmethod(create)


def _zone_id_with_z(original: Any) -> Any:
    def generate(self: Any, *args: Any, **kwargs: Any) -> str:
        return "Z" + str(original(self, *args, **kwargs))[1:]

    generate.turbine_checked = True  # type: ignore[attr-defined]
    return generate


def install() -> None:
    """Idempotent."""
    identifier: Any = HostedZoneIdentifier
    if not getattr(identifier.generate, "turbine_checked", False):
        identifier.generate = _zone_id_with_z(identifier.generate)
    balancer: Any = FakeLoadBalancer
    if not getattr(balancer.get_cfn_attribute, "turbine_checked", False):
        balancer.get_cfn_attribute = _load_balancer_attribute(balancer.get_cfn_attribute)
        balancer.get_cfn_attribute.turbine_checked = True
    record: Any = RecordSet
    current = record.__dict__["create_from_cloudformation_json"]
    if not getattr(current.__func__, "turbine_checked", False):
        record.create_from_cloudformation_json = _checked_record(current)
