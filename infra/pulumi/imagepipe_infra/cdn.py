"""CloudFront: one HTTPS origin for the API (the ALB) and `/i/*` (the variants bucket, via OAC).

`/i/*` runs the viewer-request and origin-response functions of edge/, and is cached on the
normalised variant header the viewer-request writes, never on raw `Accept`; signed URLs are
checked by CloudFront against the key group before anything else. Errors are not cached.

With a render secret, `/i/*` is served by an origin group: the variants bucket first and, when
it answers 403/404 (a variant left to its first request, IMAGEPIPE_EAGER_VARIANTS, or one
stored in its stage's pack, IMAGEPIPE_PACK_VARIANTS), the API's `/render/{id}/{name}` (the same
URI under the origin path `/render`), which reads a packed variant's range, or makes the
variant and stores it in the bucket, and answers with the delivery headers. The stack always
sets the secret: without it a packed variant could not be served. CloudFront adds the secret as an
origin custom header; the API refuses a request without it (404), so the route is CloudFront's
alone. The origin-response function runs on the response CloudFront keeps: the render origin's,
after a failover (its 404, for a name the image does not have, still becomes the fallback 302).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from pulumi_aws.cloudfront import (
    DistributionOrderedCacheBehaviorLambdaFunctionAssociationArgsDict as EdgeAssociation,
)

from imagepipe_infra import policies
from imagepipe_infra.shared import names

YEAR = 31_536_000
VARIANTS_ORIGIN = "variants"
API_ORIGIN = "api"
RENDER_ORIGIN = "render"  # the API again, under /render, for variants made on first request
VARIANTS_GROUP = "variants-or-render"
ERROR_CODES = (400, 403, 404, 500, 502, 503, 504)
# AWS managed policies for a dynamic origin: no caching, every viewer header/cookie/query passed.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER = "216adef6-5c7f-47e4-b989-5492eafa07d3"
ALL_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]


@dataclass(frozen=True)
class CdnArgs:
    variants_bucket: aws.s3.Bucket
    api_origin_domain: pulumi.Input[str]  # the ALB's certificate name
    edge_associations: Sequence[EdgeAssociation]
    web_acl_arn: pulumi.Input[str] | None = None
    public_key_pem: str | None = None  # set: /i/* needs a URL signed by its private half
    custom_domain: str | None = None
    certificate_arn: pulumi.Input[str] | None = None  # ACM in us-east-1, for custom_domain
    price_class: str = "PriceClass_100"
    # Set: a miss in the variants bucket fails over to the API's render route (module docstring).
    render_secret: pulumi.Input[str] | None = None
    # Set: sent to the API origin in names.CDN_SECRET_HEADER, so the API believes the viewer's
    # address CloudFront appends to X-Forwarded-For (app/api/client.py).
    cdn_secret: pulumi.Input[str] | None = None


class Cdn(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: CdnArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("imagepipe:cdn:Cdn", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        oac = aws.cloudfront.OriginAccessControl(
            name,
            origin_access_control_origin_type="s3",
            signing_behavior="always",
            signing_protocol="sigv4",
            opts=child,
        )
        self.cache_policy = aws.cloudfront.CachePolicy(
            f"{name}-variants",
            comment="variants: keyed on the edge's normalised variant only",
            default_ttl=YEAR,
            max_ttl=YEAR,
            min_ttl=0,
            parameters_in_cache_key_and_forwarded_to_origin={
                "headers_config": {
                    "header_behavior": "whitelist",
                    "headers": {"items": [names.VARIANT_HEADER.lower()]},
                },
                "cookies_config": {"cookie_behavior": "none"},
                # Signed-URL parameters stay out of the key: CloudFront checked them already.
                "query_strings_config": {"query_string_behavior": "none"},
                "enable_accept_encoding_gzip": False,  # images are compressed already
                "enable_accept_encoding_brotli": False,
            },
            opts=child,
        )
        self.key_group = None
        if args.public_key_pem:
            public_key = aws.cloudfront.PublicKey(
                name, encoded_key=args.public_key_pem, comment="imagepipe delivery URLs", opts=child
            )
            self.key_group = aws.cloudfront.KeyGroup(name, items=[public_key.id], opts=child)
            self.public_key_id: pulumi.Output[str] | None = public_key.id
        else:
            self.public_key_id = None
        api_origin_config: aws.cloudfront.DistributionOriginCustomOriginConfigArgsDict = {
            "http_port": 80,
            "https_port": 443,
            "origin_protocol_policy": "https-only",
            "origin_ssl_protocols": ["TLSv1.2"],
        }
        origins: list[aws.cloudfront.DistributionOriginArgsDict] = [
            {
                "origin_id": VARIANTS_ORIGIN,
                "domain_name": args.variants_bucket.bucket_regional_domain_name,
                "origin_access_control_id": oac.id,
            },
            {
                "origin_id": API_ORIGIN,
                "domain_name": args.api_origin_domain,
                "custom_origin_config": api_origin_config,
                # CloudFront replaces a header of this name sent by the viewer.
                "custom_headers": [{"name": names.CDN_SECRET_HEADER, "value": args.cdn_secret}]
                if args.cdn_secret is not None
                else [],
            },
        ]
        origin_groups: list[aws.cloudfront.DistributionOriginGroupArgsDict] = []
        if args.render_secret is not None:
            origins.append(
                {
                    "origin_id": RENDER_ORIGIN,
                    "domain_name": args.api_origin_domain,
                    "origin_path": names.RENDER_PATH,
                    "custom_origin_config": api_origin_config,
                    "custom_headers": [
                        {"name": names.RENDER_SECRET_HEADER, "value": args.render_secret}
                    ],
                }
            )
            origin_groups.append(
                {
                    "origin_id": VARIANTS_GROUP,
                    "failover_criteria": {"status_codes": list(names.RENDER_FAILOVER_CODES)},
                    "members": [{"origin_id": VARIANTS_ORIGIN}, {"origin_id": RENDER_ORIGIN}],
                }
            )
        variants_behaviour: aws.cloudfront.DistributionOrderedCacheBehaviorArgsDict = {
            "path_pattern": f"{names.PUBLIC_PREFIX}*",
            "target_origin_id": VARIANTS_GROUP if origin_groups else VARIANTS_ORIGIN,
            "viewer_protocol_policy": "https-only",
            "allowed_methods": ["GET", "HEAD", "OPTIONS"],
            "cached_methods": ["GET", "HEAD"],
            "cache_policy_id": self.cache_policy.id,
            "compress": False,
            "lambda_function_associations": list(args.edge_associations),
        }
        if self.key_group is not None:
            variants_behaviour["trusted_key_groups"] = [self.key_group.id]
        self.distribution = aws.cloudfront.Distribution(
            name,
            enabled=True,
            is_ipv6_enabled=True,
            http_version="http2and3",
            price_class=args.price_class,
            aliases=[args.custom_domain] if args.custom_domain else None,
            web_acl_id=args.web_acl_arn,
            origins=origins,
            origin_groups=origin_groups or None,
            default_cache_behavior={
                "target_origin_id": API_ORIGIN,
                "viewer_protocol_policy": "https-only",
                "allowed_methods": ALL_METHODS,
                "cached_methods": ["GET", "HEAD"],
                "cache_policy_id": CACHING_DISABLED,
                "origin_request_policy_id": ALL_VIEWER,
            },
            ordered_cache_behaviors=[variants_behaviour],
            # A refused, missing or failed request is asked again, never served from cache.
            custom_error_responses=[
                {"error_code": code, "error_caching_min_ttl": 0} for code in ERROR_CODES
            ],
            restrictions={"geo_restriction": {"restriction_type": "none"}},
            viewer_certificate=(
                {
                    "acm_certificate_arn": args.certificate_arn,
                    "ssl_support_method": "sni-only",
                    "minimum_protocol_version": "TLSv1.2_2021",
                }
                if args.custom_domain
                else {"cloudfront_default_certificate": True}
            ),
            opts=child,
        )
        # The variants bucket: TLS only, and readable by this distribution alone.
        aws.s3.BucketPolicy(
            f"{name}-variants-policy",
            bucket=args.variants_bucket.id,
            policy=policies.as_json(
                pulumi.Output.all(args.variants_bucket.arn, self.distribution.arn).apply(
                    lambda a: [
                        policies.tls_only(a[0]),
                        {
                            "Sid": "CloudFrontReadsVariants",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudfront.amazonaws.com"},
                            "Action": "s3:GetObject",
                            "Resource": f"{a[0]}/*",
                            "Condition": {"StringEquals": {"AWS:SourceArn": a[1]}},
                        },
                    ]
                )
            ),
            opts=child,
        )
        self.domain = pulumi.Output.from_input(args.custom_domain or self.distribution.domain_name)
        self.register_outputs({"domain": self.domain, "distribution": self.distribution.id})
