"""CloudFront: HTTPS only, OAC, both edge functions, a cache key without raw Accept."""

from __future__ import annotations

import json

from app import names
from tests.infra import checks
from tests.infra.stackmock import Stack

DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
FUNCTION = "aws:lambda/function:Function"


def _variants_behaviour(stack: Stack) -> dict[str, object]:
    (distribution,) = stack.of(DISTRIBUTION)
    (behaviour,) = distribution.inputs["orderedCacheBehaviors"]
    return behaviour


def test_every_behaviour_is_https_only_on_http2_and_http3(stack: Stack) -> None:
    (distribution,) = stack.of(DISTRIBUTION)
    behaviours = [distribution.inputs["defaultCacheBehavior"], _variants_behaviour(stack)]
    assert [b["viewerProtocolPolicy"] for b in behaviours] == ["https-only", "https-only"]
    assert distribution.inputs["httpVersion"] == "http2and3"
    api = next(o for o in distribution.inputs["origins"] if o["originId"] == "api")
    assert api["customOriginConfig"]["originProtocolPolicy"] == "https-only"


def test_variants_come_from_the_bucket_through_origin_access_control(stack: Stack) -> None:
    (distribution,) = stack.of(DISTRIBUTION)
    (oac,) = stack.of("aws:cloudfront/originAccessControl:OriginAccessControl")
    variants = next(o for o in distribution.inputs["origins"] if o["originId"] == "variants")
    assert variants["domainName"] == "imagepipe-test-variants.s3.eu-west-1.amazonaws.com"
    assert variants["originAccessControlId"] == f"{oac.name}-id"
    assert oac.inputs["signingBehavior"] == "always"
    assert _variants_behaviour(stack)["pathPattern"] == f"{names.PUBLIC_PREFIX}*"
    (policy,) = [
        p
        for p in stack.of(checks.BUCKET_POLICY)
        if p.inputs["bucket"] == "imagepipe-test-variants-id"
    ]
    reads = [s for s in checks.statements(policy.inputs["policy"]) if s["Effect"] == "Allow"]
    (distribution,) = stack.of(DISTRIBUTION)
    distribution_arn = f"arn:aws:cloudfront::123456789012:distribution/{distribution.name}"
    assert reads == [
        {
            "Sid": "CloudFrontReadsVariants",
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::imagepipe-test-variants/*",
            "Condition": {"StringEquals": {"AWS:SourceArn": distribution_arn}},
        }
    ]


def test_both_edge_functions_are_attached_as_published_versions_from_us_east_1(
    stack: Stack,
) -> None:
    functions = {f.inputs["handler"]: f for f in stack.of(FUNCTION)}
    assert set(functions) == {"edge.viewer_request.handler", "edge.origin_response.handler"}
    for function in functions.values():
        assert function.inputs["publish"] is True
        assert "us-east-1" in function.provider  # the second provider's URN
    attached = {
        a["eventType"]: a["lambdaArn"]
        for a in _variants_behaviour(stack)["lambdaFunctionAssociations"]
    }
    arn = "arn:aws:lambda:us-east-1:123456789012:function:{}:1"
    assert attached == {
        "viewer-request": arn.format(functions["edge.viewer_request.handler"].name),
        "origin-response": arn.format(functions["edge.origin_response.handler"].name),
    }


def test_the_cache_key_is_the_variant_header_never_raw_accept(stack: Stack) -> None:
    (policy,) = stack.of("aws:cloudfront/cachePolicy:CachePolicy")
    assert _variants_behaviour(stack)["cachePolicyId"] == f"{policy.name}-id"
    key = policy.inputs["parametersInCacheKeyAndForwardedToOrigin"]
    headers = key["headersConfig"]
    assert headers["headerBehavior"] == "whitelist"
    assert headers["headers"]["items"] == [names.VARIANT_HEADER.lower()]
    assert "accept" not in [h.lower() for h in headers["headers"]["items"]]
    assert key["queryStringsConfig"]["queryStringBehavior"] == "none"
    assert key["cookiesConfig"]["cookieBehavior"] == "none"


def test_signed_urls_are_checked_and_errors_never_cached(stack: Stack) -> None:
    (group,) = stack.of("aws:cloudfront/keyGroup:KeyGroup")
    assert _variants_behaviour(stack)["trustedKeyGroups"] == [f"{group.name}-id"]
    (distribution,) = stack.of(DISTRIBUTION)
    errors = {
        e["errorCode"]: e["errorCachingMinTtl"] for e in distribution.inputs["customErrorResponses"]
    }
    assert {400, 403, 404, 500, 502, 503, 504} <= set(errors)
    assert set(errors.values()) == {0}


def test_the_functions_bundle_is_the_edge_package(stack: Stack) -> None:
    from pathlib import Path

    edge = Path(__file__).resolve().parents[2] / "edge"
    expected = {f"edge/{p.name}" for p in edge.glob("*.py")}
    for function in stack.of(FUNCTION):
        bundle = function.inputs["code"]
        assert set(bundle.assets) == expected
        assert {Path(a.path).name for a in bundle.assets.values()} == {
            p.removeprefix("edge/") for p in expected
        }


def test_a_variant_missing_from_the_bucket_fails_over_to_the_render_route(stack: Stack) -> None:
    """Variants left to their first request (IMAGEPIPE_EAGER_VARIANTS) are made by the API."""
    (distribution,) = stack.of(DISTRIBUTION)
    (group,) = distribution.inputs["originGroups"]
    assert _variants_behaviour(stack)["targetOriginId"] == group["originId"]
    assert [m["originId"] for m in group["members"]] == ["variants", "render"]
    assert sorted(int(c) for c in group["failoverCriteria"]["statusCodes"]) == [403, 404]
    origins = {o["originId"]: o for o in distribution.inputs["origins"]}
    render = origins["render"]
    # The API's own origin (the ALB's name), under the render route's path.
    assert render["domainName"] == origins["api"]["domainName"]
    assert render["originPath"] == names.RENDER_PATH
    assert render["customOriginConfig"]["originProtocolPolicy"] == "https-only"
    # CloudFront sends the secret the API checks; the API gets the same value as a secret.
    (header,) = render["customHeaders"]
    assert header["name"] == names.RENDER_SECRET_HEADER
    assert len(header["value"]) == 64 and "not-a-real-secret" not in header["value"]
    assert "origins" in distribution.secret_inputs  # shown masked in previews and state
    (version,) = [
        v
        for v in stack.of("aws:secretsmanager/secretVersion:SecretVersion")
        if v.inputs["secretString"] == header["value"]
    ]
    assert version.name.endswith("-imagepipe-render-origin-secret")


def test_the_api_learns_the_viewers_address_only_from_requests_cloudfront_sent(
    stack: Stack,
) -> None:
    """Rate limits count the viewer, not the ALB (app/api/client.py): CloudFront proves its
    requests with a secret header of its own, distinct from the render route's."""
    (distribution,) = stack.of(DISTRIBUTION)
    origins = {o["originId"]: o for o in distribution.inputs["origins"]}
    (header,) = origins["api"]["customHeaders"]
    assert header["name"] == names.CDN_SECRET_HEADER
    (render_header,) = origins["render"]["customHeaders"]
    assert len(header["value"]) == 64 and header["value"] != render_header["value"]
    (version,) = [
        v
        for v in stack.of("aws:secretsmanager/secretVersion:SecretVersion")
        if v.inputs["secretString"] == header["value"]
    ]
    assert version.name.endswith("-imagepipe-cdn-origin-secret")
    task = stack.one("aws:ecs/taskDefinition:TaskDefinition", "-web")
    (container,) = json.loads(task.inputs["containerDefinitions"])
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["IMAGEPIPE_TRUSTED_PROXIES"] == "1"  # the ALB
    assert "IMAGEPIPE_CDN_ORIGIN_SECRET" in {s["name"] for s in container["secrets"]}
