"""What Elastic Load Balancing refuses of the load balancers, their subnets and target groups."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from turbine_dev.aws_rules.refusals import Refusal, out_of_range
from turbine_dev.aws_rules.rendered import RenderedStack, known, known_items, resources

SUBNETS = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#subnets-load-balancer"
HEALTH_CHECKS = (
    "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html"
)
TARGET_GROUPS = (
    "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-target-groups.html"
)
ACM_REGIONS = "https://docs.aws.amazon.com/acm/latest/userguide/acm-regions.html"
HEALTH_CHECK_RANGES = {
    "HealthCheckIntervalSeconds": (5, 300),
    "HealthCheckTimeoutSeconds": (2, 120),
    "HealthyThresholdCount": (2, 10),
    "UnhealthyThresholdCount": (2, 10),
}


def check_load_balancer_subnets(stack: RenderedStack) -> Iterator[Refusal]:
    """An Application Load Balancer needs subnets in at least two Availability Zones, each a /27 or larger
    with at least 8 free addresses (Application Load Balancers: Subnets for your load balancer). Every subnet
    this stack creates carries a load balancer (the private ones the internal one, the public ones the
    internet-facing one), so each is held to it."""
    for path, scope in stack.scopes():
        for logical_id, balancer in resources(scope, "AWS::ElasticLoadBalancingV2::LoadBalancer"):
            subnets = known(scope, balancer["Properties"].get("Subnets"))
            if subnets is not None and len(set(subnets)) < 2:
                yield Refusal(
                    "check_load_balancer_subnets",
                    f"{path} {logical_id} Subnets",
                    "ValidationError: At least two subnets in two different Availability Zones must be "
                    "specified",
                    SUBNETS,
                )
        zones: dict[str, list[str]] = {}
        for logical_id, subnet in resources(scope, "AWS::EC2::Subnet"):
            cidr = known(scope, subnet["Properties"].get("CidrBlock"))
            zone = known(scope, subnet["Properties"].get("AvailabilityZone"))
            public = (
                str(known(scope, subnet["Properties"].get("MapPublicIpOnLaunch"))) == "true"
                or "Public" in logical_id
            )
            zones.setdefault("public" if public else "private", []).append(str(zone))
            if cidr is not None and ipaddress.ip_network(cidr, strict=False).prefixlen > 27:
                yield Refusal(
                    "check_load_balancer_subnets",
                    f"{path} {logical_id} CidrBlock",
                    f"InvalidSubnet: {cidr}: each subnet for your load balancer needs a CIDR block with "
                    "at least a "
                    "/27 bitmask and at least 8 free IP addresses",
                    SUBNETS,
                )
        for kind, placed in zones.items():
            if len(placed) >= 2 and len(set(placed)) < 2:
                yield Refusal(
                    "check_load_balancer_subnets",
                    f"{path} {kind} subnets",
                    "ValidationError: At least two subnets in two different Availability Zones must be "
                    "specified",
                    SUBNETS,
                )


def check_target_groups(stack: RenderedStack) -> Iterator[Refusal]:
    """Health checks: interval 5-300 s, timeout 2-120 s, thresholds 2-10 ("Health checks for Application Load
    Balancer target groups"); deregistration delay 0-3600 s (target group attributes)."""
    for path, scope in stack.scopes():
        for logical_id, group in resources(scope, "AWS::ElasticLoadBalancingV2::TargetGroup"):
            properties = known_items(scope, group["Properties"])
            where = f"{path} {logical_id}"
            for name, (low, high) in HEALTH_CHECK_RANGES.items():
                if name in properties:
                    member = name[0].lower() + name[1:]
                    message = out_of_range(int(properties[name]), member, low, high)
                    if message:
                        yield Refusal("check_target_groups", where, message, HEALTH_CHECKS)
            for attribute in properties.get("TargetGroupAttributes", []):
                if attribute.get("Key") == "deregistration_delay.timeout_seconds":
                    delay = int(attribute["Value"])
                    if not 0 <= delay <= 3600:
                        yield Refusal(
                            "check_target_groups",
                            where,
                            f"ValidationError: deregistration_delay.timeout_seconds {delay}: The range "
                            "is 0-3600 "
                            "seconds",
                            TARGET_GROUPS,
                        )


def check_certificate_region(stack: RenderedStack) -> Iterator[Refusal]:
    """Certificates in ACM are regional resources: a load balancer's listener can only use one of its own
    Region ("Supported Regions", AWS Certificate Manager)."""
    arn = stack.parameters.get("CertificateArn", "")
    parts = arn.split(":")
    if arn and (len(parts) < 6 or parts[3] != stack.region):
        yield Refusal(
            "check_certificate_region",
            "Parameters.CertificateArn",
            f"CertificateNotFound: Certificate '{arn}' not found: certificates in ACM are regional "
            "resources, "
            f"and this stack is in {stack.region}",
            ACM_REGIONS,
        )


CHECKS = (check_load_balancer_subnets, check_target_groups, check_certificate_region)
