"""Every knob of the stack: a `pulumi.Config` value with a default, read once into a dataclass.

Set one with `pulumi config set imagepipe:<key> <value>` (`--secret` for secrets); the defaults
are the ones in this file, and Pulumi.dev.yaml shows each key.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import pulumi

from imagepipe_infra.shared import names

FARGATE_MAX_STOP_TIMEOUT = 120  # seconds: Fargate's ceiling, and Spot's two-minute warning


@dataclass(frozen=True)
class StackConfig:
    prefix: str  # every physical name starts with it: imagepipe-<stack>
    region: str
    # storage
    originals_bucket: str
    variants_bucket: str
    kms_key_arn: str | None
    originals_noncurrent_days: int
    originals_retention_days: int  # originals expire after this many days; 0: kept
    work_expiry_days: int
    web_origins: tuple[str, ...]
    force_destroy: bool
    # queues
    uploads_queue: str
    task_queue: str
    max_receives: int
    task_time_limit: int
    task_events: bool  # Celery task events for Flower: ~40 SNS and SQS requests an image
    # catalog
    table: str
    replica_region: str | None
    # cdn
    custom_domain: str | None
    cdn_certificate_arn: str | None  # ACM, us-east-1, for custom_domain; None: made in the zone
    hosted_zone_id: str | None  # Route 53: certificates validated and names pointed here
    price_class: str
    private_images: bool
    cloudfront_public_key: str | None  # PEM; required when images are private
    edge_runtime: str
    # api and image
    image: str | None  # None: the stack's ECR repository, tag image_tag
    image_tag: str
    origin_domain: str  # the ALB's name, behind CloudFront
    api_certificate_arn: str | None  # ACM, this region, for both names; None: made in the zone
    flower_domain: str
    global_accelerator: bool
    api_min_tasks: int
    api_max_tasks: int
    # workers
    worker_cpu: int
    worker_memory: int
    worker_concurrency: int
    worker_min_tasks: int
    worker_max_tasks: int
    fargate_base: int
    backlog_per_task: int
    worker_stop_timeout: int
    log_retention_days: int
    # auth
    auth_domain_prefix: str
    mfa: str
    # waf
    rate_limit: int  # requests per 5 minutes per IP
    max_body_bytes: int
    # monitoring
    alarm_email: str | None
    oldest_message_seconds: int
    max_5xx_percent: float
    # availability zones of the VPC's subnets
    availability_zones: tuple[str, ...]
    cidr: str

    @classmethod
    def load(cls) -> StackConfig:
        c = pulumi.Config()
        aws_config = pulumi.Config("aws")
        stack = pulumi.get_stack()
        prefix = c.get("prefix") or f"imagepipe-{stack}"
        region = aws_config.get("region") or "us-east-1"
        private = c.get_bool("privateImages")
        private = True if private is None else private
        origin_domain = c.require("originDomain")
        zone = c.get("hostedZoneId")
        if c.get("customDomain") and not (zone or c.get("cdnCertificateArn")):
            raise ValueError("customDomain needs cdnCertificateArn (us-east-1) or hostedZoneId")
        stop_timeout = c.get_int("workerStopTimeout") or FARGATE_MAX_STOP_TIMEOUT
        if stop_timeout > FARGATE_MAX_STOP_TIMEOUT:
            raise ValueError(
                f"workerStopTimeout: Fargate allows at most {FARGATE_MAX_STOP_TIMEOUT}"
            )
        return cls(
            prefix=prefix,
            region=region,
            originals_bucket=c.get("originalsBucket") or f"{prefix}-originals",
            variants_bucket=c.get("variantsBucket") or f"{prefix}-variants",
            kms_key_arn=c.get("kmsKeyArn"),
            originals_noncurrent_days=c.get_int("originalsNoncurrentDays") or 1,
            originals_retention_days=c.get_int("originalsRetentionDays") or 0,
            work_expiry_days=c.get_int("workExpiryDays") or 1,
            web_origins=tuple(c.get_object("webOrigins") or ()),
            force_destroy=bool(c.get_bool("forceDestroy")),
            uploads_queue=c.get("uploadsQueue") or f"{prefix}-{names.UPLOADS_QUEUE}",
            task_queue=c.get("taskQueue") or f"{prefix}-{names.TASK_QUEUE}",
            max_receives=c.get_int("maxReceiveCount") or names.MAX_RECEIVES,
            task_time_limit=c.get_int("taskTimeLimit") or names.TASK_TIME_LIMIT,
            # Off unless asked: at 10M images a day they are $190 a day (docs/capacity.md).
            task_events=bool(c.get_bool("taskEvents")),
            table=c.get("table") or f"{prefix}-{names.TABLE}",
            replica_region=c.get("replicaRegion"),
            custom_domain=c.get("customDomain"),
            cdn_certificate_arn=c.get("cdnCertificateArn"),
            hosted_zone_id=zone,
            price_class=c.get("priceClass") or "PriceClass_100",
            private_images=private,
            cloudfront_public_key=c.require("cloudfrontPublicKey") if private else None,
            edge_runtime=c.get("edgeRuntime") or "python3.12",
            image=c.get("image"),
            image_tag=c.get("imageTag") or "latest",
            origin_domain=origin_domain,
            api_certificate_arn=c.get("apiCertificateArn")
            if zone
            else c.require("apiCertificateArn"),
            flower_domain=c.get("flowerDomain") or f"flower.{origin_domain}",
            global_accelerator=bool(c.get_bool("globalAccelerator")),
            api_min_tasks=c.get_int("apiMinTasks") or 2,
            api_max_tasks=c.get_int("apiMaxTasks") or 6,
            worker_cpu=c.get_int("workerCpu") or 1024,
            worker_memory=c.get_int("workerMemory") or 4096,
            worker_concurrency=c.get_int("workerConcurrency") or 2,
            worker_min_tasks=_int_or(c.get_int("workerMinTasks"), 1),
            worker_max_tasks=c.get_int("workerMaxTasks") or 20,
            fargate_base=_int_or(c.get_int("fargateBase"), 1),
            backlog_per_task=c.get_int("backlogPerTask") or 20,
            worker_stop_timeout=stop_timeout,
            log_retention_days=c.get_int("logRetentionDays") or 30,
            auth_domain_prefix=c.get("authDomainPrefix") or prefix,
            mfa=c.get("mfa") or "OPTIONAL",
            rate_limit=c.get_int("rateLimit") or 2000,
            max_body_bytes=c.get_int("maxBodyBytes") or 8192,
            alarm_email=c.get("alarmEmail"),
            oldest_message_seconds=c.get_int("oldestMessageSeconds") or 900,
            max_5xx_percent=c.get_float("max5xxPercent") or 1.0,
            availability_zones=tuple(
                c.get_object("availabilityZones") or (f"{region}a", f"{region}b")
            ),
            cidr=c.get("vpcCidr") or "10.42.0.0/16",
        )


def _int_or(value: int | None, default: int) -> int:
    """An int knob where 0 is a real choice (`or` would replace it)."""
    return default if value is None else value


def secret_key() -> pulumi.Output[str]:
    """IMAGEPIPE_SECRET_KEY: `pulumi config set --secret imagepipe:secretKey ...`."""
    return pulumi.Config().require_secret("secretKey")


def render_origin_secret() -> pulumi.Output[str]:
    """IMAGEPIPE_RENDER_ORIGIN_SECRET: CloudFront's header to the API's render route.

    Derived from secretKey (HMAC-SHA256 under a fixed label), so it needs no config of its own,
    rotates with it, and reveals nothing of it (the value sits in the distribution's config).
    """
    return _derived(b"imagepipe-render-origin-v1")


def cdn_origin_secret() -> pulumi.Output[str]:
    """IMAGEPIPE_CDN_ORIGIN_SECRET: CloudFront's header to the API origin, which tells the API
    that the request came through CloudFront (so its X-Forwarded-For entry is the viewer's).
    Derived from secretKey as the render secret is, under its own label."""
    return _derived(b"imagepipe-cdn-origin-v1")


def flower_login() -> pulumi.Output[str]:
    """FLOWER_BASIC_AUTH (`flower:<password>`): Flower's own login behind the load balancer's
    Cognito sign-in. On the stack Flower must listen beyond loopback for the load balancer, and
    app/flower.py refuses that without a login; derived from secretKey, so it needs no config
    of its own (`pulumi stack output flower_login --show-secrets`)."""
    return _derived(b"imagepipe-flower-login-v1").apply(lambda key: f"flower:{key[:32]}")


def _derived(label: bytes) -> pulumi.Output[str]:
    def derive(key: str) -> str:
        return hmac.new(key.encode(), label, hashlib.sha256).hexdigest()

    return pulumi.Output.secret(secret_key().apply(derive))


def cloudfront_private_key() -> pulumi.Output[str] | None:
    """The PEM private half of cloudfrontPublicKey, for signing delivery URLs."""
    return pulumi.Config().get_secret("cloudfrontPrivateKey")
