"""The whole stack, composed from the components; `__main__.py` runs it and exports the outputs."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from imagepipe_infra import access
from imagepipe_infra.api import Api, ApiArgs
from imagepipe_infra.auth import Auth, AuthArgs
from imagepipe_infra.catalog import Catalog, CatalogArgs
from imagepipe_infra.cdn import Cdn, CdnArgs
from imagepipe_infra.cluster import Cluster, ClusterArgs
from imagepipe_infra.config import (
    StackConfig,
    cdn_origin_secret,
    cloudfront_private_key,
    flower_login,
    render_origin_secret,
    secret_key,
)
from imagepipe_infra.domain import CertificateArgs, DnsCertificate, alias
from imagepipe_infra.edge import EdgeArgs, EdgeFunctions
from imagepipe_infra.monitoring import Monitoring, MonitoringArgs
from imagepipe_infra.network import Network, NetworkArgs
from imagepipe_infra.queues import Queues, QueuesArgs
from imagepipe_infra.registry import Registry, RegistryArgs
from imagepipe_infra.services import Runtime
from imagepipe_infra.storage import Storage, StorageArgs
from imagepipe_infra.waf import Waf, WafArgs
from imagepipe_infra.workers import Workers, WorkersArgs


def build(cfg: StackConfig) -> dict[str, pulumi.Input[str]]:
    us_east_1 = aws.Provider("us-east-1", region="us-east-1")
    name = cfg.prefix
    storage = Storage(
        name,
        StorageArgs(
            originals_bucket=cfg.originals_bucket,
            variants_bucket=cfg.variants_bucket,
            kms_key_arn=cfg.kms_key_arn,
            originals_noncurrent_days=cfg.originals_noncurrent_days,
            originals_retention_days=cfg.originals_retention_days,
            work_expiry_days=cfg.work_expiry_days,
            force_destroy=cfg.force_destroy,
        ),
    )
    queues = Queues(
        name,
        QueuesArgs(
            uploads_queue=cfg.uploads_queue,
            task_queue=cfg.task_queue,
            max_receives=cfg.max_receives,
            task_time_limit=cfg.task_time_limit,
            originals_bucket=storage.originals,
        ),
    )
    catalog = Catalog(name, CatalogArgs(table=cfg.table, replica_region=cfg.replica_region))
    waf = Waf(name, WafArgs(us_east_1, cfg.rate_limit, cfg.max_body_bytes))
    edge = EdgeFunctions(name, EdgeArgs(us_east_1, cfg.edge_runtime))
    zone = cfg.hosted_zone_id
    cdn_certificate: pulumi.Input[str] | None = cfg.cdn_certificate_arn
    if cfg.custom_domain and cdn_certificate is None and zone:
        cdn_certificate = DnsCertificate(
            f"{name}-cdn", CertificateArgs(cfg.custom_domain, zone, us_east_1)
        ).arn
    render_secret = render_origin_secret()
    cdn_secret = cdn_origin_secret()
    cdn = Cdn(
        name,
        CdnArgs(
            variants_bucket=storage.variants,
            api_origin_domain=cfg.origin_domain,
            edge_associations=edge.associations,
            web_acl_arn=waf.cdn_acl.arn,
            public_key_pem=cfg.cloudfront_public_key,
            custom_domain=cfg.custom_domain,
            certificate_arn=cdn_certificate,
            price_class=cfg.price_class,
            render_secret=render_secret,
            cdn_secret=cdn_secret,
        ),
    )
    if cfg.custom_domain and zone:
        alias(
            f"{name}-site",
            zone,
            cfg.custom_domain,
            cdn.distribution.domain_name,
            cdn.distribution.hosted_zone_id,
        )
    secrets = {
        "IMAGEPIPE_SECRET_KEY": secret_key(),
        "IMAGEPIPE_RENDER_ORIGIN_SECRET": render_secret,
        "IMAGEPIPE_CDN_ORIGIN_SECRET": cdn_secret,
        "FLOWER_BASIC_AUTH": flower_login(),
    }
    private_key = cloudfront_private_key()
    if private_key is not None:
        secrets["IMAGEPIPE_CLOUDFRONT_PRIVATE_KEY"] = private_key
    registry = Registry(name, RegistryArgs(cfg.image, cfg.image_tag, secrets))
    network = Network(name, NetworkArgs(cfg.cidr, cfg.availability_zones))
    cluster = Cluster(name, ClusterArgs(cfg.fargate_base))
    public_base_url = pulumi.Output.concat("https://", cdn.domain)
    auth = Auth(
        name,
        AuthArgs(
            cfg.auth_domain_prefix,
            [cfg.flower_domain],
            cfg.mfa,
            web_origins=[public_base_url, *cfg.web_origins],
        ),
    )
    storage.allow_uploads_from(name, [public_base_url, *cfg.web_origins])
    environment: dict[str, pulumi.Input[str]] = {
        "IMAGEPIPE_ORIGINALS_URL": pulumi.Output.concat("s3://", storage.originals.bucket),
        "IMAGEPIPE_VARIANTS_URL": pulumi.Output.concat("s3://", storage.variants.bucket),
        "IMAGEPIPE_CATALOG_URL": pulumi.Output.concat("dynamodb://", catalog.table.name),
        "CELERY_BROKER_URL": "sqs://",
        "IMAGEPIPE_TASK_QUEUE": queues.tasks.name,
        "IMAGEPIPE_UPLOADS_QUEUE": queues.uploads.url,
        "IMAGEPIPE_SQS_MAX_RECEIVES": str(cfg.max_receives),
        "IMAGEPIPE_TASK_TIME_LIMIT": str(cfg.task_time_limit),
        "IMAGEPIPE_TASK_EVENTS": str(cfg.task_events).lower(),
        "IMAGEPIPE_PUBLIC_BASE_URL": public_base_url,
        "IMAGEPIPE_PRIVATE_IMAGES": str(cfg.private_images).lower(),
        # The ALB appends its peer to X-Forwarded-For: the rate limits count that address, or
        # with CloudFront's secret header the viewer's (app/api/client.py).
        "IMAGEPIPE_TRUSTED_PROXIES": "1",
        # An erasure invalidates the distribution's cached copies (app/invalidation.py). It
        # also orders a deploy: the distribution's edge functions are live before the tasks
        # change (a stand-in's no-store needs the new origin-response: docs/delivery.md).
        "IMAGEPIPE_CLOUDFRONT_DISTRIBUTION_ID": cdn.distribution.id,
        "AWS_REGION": cfg.region,
        # The API verifies the pool's JWTs against its JWKS (app/auth/tokens.py).
        "IMAGEPIPE_COGNITO_REGION": cfg.region,
        "IMAGEPIPE_COGNITO_USER_POOL_ID": auth.user_pool.id,
        # The page's own client: tokens the API accepts come from the page's sign-in.
        "IMAGEPIPE_COGNITO_CLIENT_ID": auth.web_client.id,
        "IMAGEPIPE_COGNITO_HOSTED_UI_URL": pulumi.Output.concat(
            "https://", auth.domain.domain, ".auth.", cfg.region, ".amazoncognito.com"
        ),
    }
    if cdn.public_key_id is not None:
        environment["IMAGEPIPE_CLOUDFRONT_KEY_ID"] = cdn.public_key_id
    runtime = Runtime(
        cluster=cluster.cluster,
        capacity=cluster.capacity,
        image=registry.image,
        repository_arn=registry.repository.arn if registry.repository else None,
        environment=environment,
        secrets=registry.secret_arns,
        subnet_ids=network.subnet_ids,
        region=cfg.region,
        log_retention_days=cfg.log_retention_days,
    )
    resources = access.Resources(
        originals_arn=storage.originals.arn,
        variants_arn=storage.variants.arn,
        table_arn=catalog.table.arn,
        uploads_arn=queues.uploads.arn,
        uploads_dlq_arn=queues.uploads_dlq.arn,
        tasks_arn=queues.tasks.arn,
        tasks_dlq_arn=queues.tasks_dlq.arn,
    )
    workers = Workers(
        name,
        WorkersArgs(
            runtime=runtime,
            security_group=network.worker_group,
            task_queue_name=queues.tasks.name,
            worker_statements=access.worker(resources),
            ingest_statements=access.ingest(resources),
            beat_statements=access.beat(resources),
            cpu=cfg.worker_cpu,
            memory=cfg.worker_memory,
            concurrency=cfg.worker_concurrency,
            min_tasks=cfg.worker_min_tasks,
            max_tasks=cfg.worker_max_tasks,
            fargate_base=cfg.fargate_base,
            backlog_per_task=cfg.backlog_per_task,
            stop_timeout=cfg.worker_stop_timeout,
        ),
    )
    api_certificates: list[pulumi.Input[str]] = []
    if cfg.api_certificate_arn:
        api_certificates = [cfg.api_certificate_arn]
    elif zone:
        api_certificates = [
            DnsCertificate(f"{name}-{label}", CertificateArgs(domain, zone)).arn
            for label, domain in (("origin", cfg.origin_domain), ("flower", cfg.flower_domain))
        ]
    api = Api(
        name,
        ApiArgs(
            runtime=runtime,
            vpc_id=network.vpc.id,
            subnet_ids=network.subnet_ids,
            alb_group=network.alb_group,
            web_group=network.web_group,
            certificate_arn=api_certificates[0],
            more_certificates=api_certificates[1:],
            statements=access.api(resources, cdn.distribution.arn),
            min_tasks=cfg.api_min_tasks,
            max_tasks=cfg.api_max_tasks,
            global_accelerator=cfg.global_accelerator,
        ),
    )
    waf.protect(f"{name}-api", api.load_balancer.arn)
    if zone:
        for label, domain in (("origin", cfg.origin_domain), ("flower", cfg.flower_domain)):
            alias(
                f"{name}-{label}",
                zone,
                domain,
                api.load_balancer.dns_name,
                api.load_balancer.zone_id,
            )
    Monitoring(
        name,
        MonitoringArgs(
            runtime=runtime,
            vpc_id=network.vpc.id,
            flower_group=network.flower_group,
            flower_statements=access.flower(resources),
            https_listener=api.https,
            flower_domain=cfg.flower_domain,
            user_pool_arn=auth.user_pool.arn,
            user_pool_client_id=auth.client.id,
            user_pool_domain=auth.domain.domain,
            queues=[queues.uploads, queues.tasks],
            dead_letter_queues=[queues.uploads_dlq, queues.tasks_dlq],
            load_balancer_suffix=api.load_balancer.arn_suffix,
            worker_log_group=workers.worker.log_group,
            alarm_email=cfg.alarm_email,
            oldest_message_seconds=cfg.oldest_message_seconds,
            max_5xx_percent=cfg.max_5xx_percent,
        ),
    )
    outputs: dict[str, pulumi.Input[str]] = {
        "api_url": public_base_url,
        "cdn_domain": cdn.distribution.domain_name,
        "alb_domain": api.load_balancer.dns_name,
        "originals_bucket": storage.originals.bucket,
        "variants_bucket": storage.variants.bucket,
        "table": catalog.table.name,
        "uploads_queue": queues.uploads.name,
        "task_queue": queues.tasks.name,
        "image": registry.image,
        "user_pool_id": auth.user_pool.id,
        "flower_url": f"https://{cfg.flower_domain}",
        "flower_login": secrets["FLOWER_BASIC_AUTH"],
    }
    if api.accelerator_dns is not None:
        outputs["accelerator_dns"] = api.accelerator_dns
    return outputs
