"""The originals (private uploads) and variants (CDN origin) buckets, locked down."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from imagepipe_infra import policies
from imagepipe_infra.shared import names

DAY_ONE = 1


@dataclass(frozen=True)
class StorageArgs:
    originals_bucket: str
    variants_bucket: str
    kms_key_arn: str | None = None  # None: SSE-S3 (AES256)
    # An erased or replaced original lingers this long as a noncurrent version (GDPR: short).
    originals_noncurrent_days: int = 1
    # Storage limitation: originals (which keep the uploader's EXIF) expire; 0 keeps them.
    originals_retention_days: int = 0
    work_expiry_days: int = DAY_ONE
    force_destroy: bool = False
    tags: dict[str, str] = field(default_factory=dict)


class Storage(pulumi.ComponentResource):
    originals: aws.s3.Bucket
    variants: aws.s3.Bucket

    def __init__(
        self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("imagepipe:storage:Storage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.originals = aws.s3.Bucket(
            f"{name}-originals",
            bucket=args.originals_bucket,
            force_destroy=args.force_destroy,
            tags=args.tags,
            opts=child,
        )
        self.variants = aws.s3.Bucket(
            f"{name}-variants",
            bucket=args.variants_bucket,
            force_destroy=args.force_destroy,
            tags=args.tags,
            opts=child,
        )
        for label, bucket in (("originals", self.originals), ("variants", self.variants)):
            self._lock_down(f"{name}-{label}", bucket, args.kms_key_arn)
        aws.s3.BucketVersioning(
            f"{name}-originals-versioning",
            bucket=self.originals.id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-originals-lifecycle",
            bucket=self.originals.id,
            rules=[
                {
                    "id": "abort-incomplete-multipart",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": DAY_ONE},
                },
                {
                    "id": "expire-noncurrent-versions",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "noncurrent_version_expiration": {
                        "noncurrent_days": args.originals_noncurrent_days
                    },
                },
                *_retention(args.originals_retention_days),
            ],
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-variants-lifecycle",
            bucket=self.variants.id,
            rules=[
                {
                    "id": "expire-work-files",
                    "status": "Enabled",
                    "filter": {"prefix": names.work_prefix("")},
                    "expiration": {"days": args.work_expiry_days},
                },
                {
                    "id": "abort-incomplete-multipart",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": DAY_ONE},
                },
                {
                    # Variants are read a lot at first, then rarely: let S3 move cold ones.
                    "id": "intelligent-tiering",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "transitions": [{"days": 0, "storage_class": "INTELLIGENT_TIERING"}],
                },
            ],
            opts=child,
        )
        # The originals' policy is whole here; the variants' (TLS only + CloudFront's OAC read)
        # belongs to the CDN, which alone knows the distribution.
        aws.s3.BucketPolicy(
            f"{name}-originals-policy",
            bucket=self.originals.id,
            policy=policies.as_json(self.originals.arn.apply(lambda arn: [policies.tls_only(arn)])),
            opts=child,
        )
        self.register_outputs(
            {"originals": self.originals.bucket, "variants": self.variants.bucket}
        )

    def allow_uploads_from(
        self, name: str, web_origins: pulumi.Input[Sequence[pulumi.Input[str]]]
    ) -> aws.s3.BucketCorsConfiguration:
        """CORS on originals: only these origins, only the methods a presigned upload uses.

        A method of its own because the stack's origin is the CDN's domain, known only later.
        """
        return aws.s3.BucketCorsConfiguration(
            f"{name}-originals-cors",
            bucket=self.originals.id,
            cors_rules=[
                {
                    "allowed_origins": web_origins,
                    "allowed_methods": list(names.UPLOAD_CORS_METHODS),
                    "allowed_headers": ["*"],
                    "expose_headers": list(names.UPLOAD_CORS_EXPOSE),
                    "max_age_seconds": 3600,
                }
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _lock_down(self, name: str, bucket: aws.s3.Bucket, kms_key_arn: str | None) -> None:
        child = pulumi.ResourceOptions(parent=self)
        aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            ignore_public_acls=True,
            block_public_policy=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},  # ACLs off
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": (
                        {"sse_algorithm": "aws:kms", "kms_master_key_id": kms_key_arn}
                        if kms_key_arn
                        else {"sse_algorithm": names.SSE_ALGORITHM}
                    ),
                    "bucket_key_enabled": bool(kms_key_arn),
                }
            ],
            opts=child,
        )


def _retention(days: int) -> list[aws.s3.BucketLifecycleConfigurationRuleArgsDict]:
    """Originals expire after `days`. Not Object Lock: a lock would refuse a GDPR erasure."""
    if days <= 0:
        return []
    return [
        {
            "id": "expire-originals",
            "status": "Enabled",
            "filter": {"prefix": ""},
            "expiration": {"days": days},
        }
    ]
