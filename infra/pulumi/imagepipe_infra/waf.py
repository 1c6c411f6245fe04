"""WAFv2 web ACLs: one for CloudFront (us-east-1, scope CLOUDFRONT), one on the API's ALB.

Both hold AWS's managed common and known-bad-inputs rule sets, a rate limit per client address
and a request body size limit (the API takes small JSON bodies; uploads go straight to S3).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

MANAGED = ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet")


@dataclass(frozen=True)
class WafArgs:
    us_east_1: aws.Provider  # CloudFront's ACL lives in us-east-1
    rate_limit: int = 2000  # requests per 5 minutes per address
    max_body_bytes: int = 8192


class Waf(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: WafArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("imagepipe:waf:Waf", name, None, opts)
        self.cdn_acl = aws.wafv2.WebAcl(
            f"{name}-cdn",
            scope="CLOUDFRONT",
            default_action={"allow": {}},
            rules=rules(f"{name}-cdn", args),
            visibility_config=_visibility(f"{name}-cdn"),
            opts=pulumi.ResourceOptions(parent=self, provider=args.us_east_1),
        )
        self.api_acl = aws.wafv2.WebAcl(
            f"{name}-api",
            scope="REGIONAL",
            default_action={"allow": {}},
            rules=rules(f"{name}-api", args),
            visibility_config=_visibility(f"{name}-api"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"cdn_acl": self.cdn_acl.arn, "api_acl": self.api_acl.arn})

    def protect(
        self, name: str, load_balancer_arn: pulumi.Input[str]
    ) -> aws.wafv2.WebAclAssociation:
        """Attach the regional ACL to the API's load balancer."""
        return aws.wafv2.WebAclAssociation(
            name,
            resource_arn=load_balancer_arn,
            web_acl_arn=self.api_acl.arn,
            opts=pulumi.ResourceOptions(parent=self),
        )


def rules(prefix: str, args: WafArgs) -> list[aws.wafv2.WebAclRuleArgsDict]:
    managed: list[aws.wafv2.WebAclRuleArgsDict] = [
        {
            "name": rule_set,
            "priority": i,
            "override_action": {"none": {}},
            "statement": {"managed_rule_group_statement": {"vendor_name": "AWS", "name": rule_set}},
            "visibility_config": _visibility(f"{prefix}-{rule_set}"),
        }
        for i, rule_set in enumerate(MANAGED)
    ]
    return [
        *managed,
        {
            "name": "rate-limit",
            "priority": len(managed),
            "action": {"block": {}},
            "statement": {
                "rate_based_statement": {"limit": args.rate_limit, "aggregate_key_type": "IP"}
            },
            "visibility_config": _visibility(f"{prefix}-rate-limit"),
        },
        {
            "name": "body-size-limit",
            "priority": len(managed) + 1,
            "action": {"block": {}},
            "statement": {
                "size_constraint_statement": {
                    "comparison_operator": "GT",
                    "size": args.max_body_bytes,
                    # A body beyond what WAF inspects counts as too large.
                    "field_to_match": {"body": {"oversize_handling": "MATCH"}},
                    "text_transformations": [{"priority": 0, "type": "NONE"}],
                }
            },
            "visibility_config": _visibility(f"{prefix}-body-size"),
        },
    ]


# The ACL's and each rule's visibility have one shape under two names (the same TypedDict fields).
def _visibility(metric: str) -> aws.wafv2.WebAclVisibilityConfigArgsDict:
    return {
        "cloudwatch_metrics_enabled": True,
        "metric_name": metric,
        "sampled_requests_enabled": True,
    }
