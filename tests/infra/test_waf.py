"""WAF: managed rules, a rate limit and a body limit, on CloudFront and on the API."""

from __future__ import annotations

from tests.infra.stackmock import Stack

ACL = "aws:wafv2/webAcl:WebAcl"


def test_the_acls_are_attached_to_cloudfront_and_the_api(stack: Stack) -> None:
    acls = {a.inputs["scope"]: a for a in stack.of(ACL)}
    assert set(acls) == {"CLOUDFRONT", "REGIONAL"}
    assert "us-east-1" in acls["CLOUDFRONT"].provider  # CloudFront's ACLs live there
    (distribution,) = stack.of("aws:cloudfront/distribution:Distribution")
    assert distribution.inputs["webAclId"].endswith(f":{acls['CLOUDFRONT'].name}")
    (association,) = stack.of("aws:wafv2/webAclAssociation:WebAclAssociation")
    assert association.inputs["webAclArn"].endswith(f":{acls['REGIONAL'].name}")
    (alb,) = stack.of("aws:lb/loadBalancer:LoadBalancer")
    assert association.inputs["resourceArn"].split("/")[2] == alb.name


def test_each_acl_has_managed_rules_a_rate_limit_and_a_body_limit(stack: Stack) -> None:
    for acl in stack.of(ACL):
        statements = {r["name"]: r["statement"] for r in acl.inputs["rules"]}
        managed = {
            s["managedRuleGroupStatement"]["name"]
            for s in statements.values()
            if "managedRuleGroupStatement" in s
        }
        assert managed == {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"}
        assert statements["rate-limit"]["rateBasedStatement"] == {
            "limit": 2000,
            "aggregateKeyType": "IP",
        }
        size = statements["body-size-limit"]["sizeConstraintStatement"]
        assert (size["comparisonOperator"], size["size"]) == ("GT", 8192)
        priorities = [r["priority"] for r in acl.inputs["rules"]]
        assert len(set(priorities)) == len(priorities)
