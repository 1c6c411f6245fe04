"""The buckets: private, encrypted, TLS only; versions, CORS and lifecycle as the issue asks."""

from __future__ import annotations

import pulumi_aws as aws

from tests.infra import checks
from tests.infra.stackmock import Stack, run


def test_every_bucket_blocks_public_access_is_encrypted_and_tls_only(stack: Stack) -> None:
    assert {b.inputs["bucket"] for b in stack.of(checks.BUCKET)} == {
        "imagepipe-test-originals",
        "imagepipe-test-variants",
    }
    assert checks.bucket_problems(stack) == []


def _leaky_bucket() -> None:
    """A bucket someone opened on purpose: public access allowed, a public read policy."""
    leaky = aws.s3.Bucket("leaky", bucket="leaky")
    aws.s3.BucketPublicAccessBlock(
        "leaky",
        bucket=leaky.id,
        block_public_acls=True,
        ignore_public_acls=True,
        block_public_policy=False,
        restrict_public_buckets=False,
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        "leaky",
        bucket=leaky.id,
        rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
    )
    aws.s3.BucketPolicy(
        "leaky",
        bucket=leaky.id,
        policy='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", '
        '"Action": "s3:GetObject", "Resource": "arn:aws:s3:::leaky/*"}]}',
    )


def test_a_bucket_opened_to_the_public_fails_the_check() -> None:
    broken = run(extra=_leaky_bucket)
    assert checks.bucket_problems(broken) == [
        "leaky: public access is not blocked",
        "leaky: requests without TLS are not refused",
        "leaky: its policy grants the public",
    ]


def test_originals_are_versioned_and_take_uploads_only_from_the_web_origins(stack: Stack) -> None:
    versioning = stack.one("aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.inputs["bucket"] == "imagepipe-test-originals-id"
    assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}
    (cors,) = stack.of("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration")
    assert cors.inputs["bucket"] == "imagepipe-test-originals-id"
    (rule,) = cors.inputs["corsRules"]
    assert rule["allowedOrigins"] == [
        "https://d111111abcdef8.cloudfront.net",  # the stack's own origin: the CDN's domain
        "https://app.example.com",  # webOrigins
    ]
    assert sorted(rule["allowedMethods"]) == ["POST", "PUT"]
    assert rule["exposeHeaders"] == ["ETag"]


def _rules(stack: Stack, bucket: str) -> dict[str, dict[str, object]]:
    (config,) = [
        r
        for r in stack.of("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
        if r.inputs["bucket"] == f"{bucket}-id"
    ]
    return {rule["id"]: rule for rule in config.inputs["rules"]}


def test_lifecycle_expires_work_files_and_aborts_multipart_after_a_day(stack: Stack) -> None:
    variants = _rules(stack, "imagepipe-test-variants")
    work = variants["expire-work-files"]
    assert work["filter"] == {"prefix": "_work/"}
    assert work["expiration"] == {"days": 1}
    assert variants["intelligent-tiering"]["transitions"] == [
        {"days": 0, "storageClass": "INTELLIGENT_TIERING"}
    ]
    originals = _rules(stack, "imagepipe-test-originals")
    for rules in (originals, variants):
        abort = rules["abort-incomplete-multipart"]["abortIncompleteMultipartUpload"]
        assert abort == {"daysAfterInitiation": 1}
    assert originals["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {
        "noncurrentDays": 30
    }


def test_retention_locks_originals_when_configured() -> None:
    locked = run({"imagepipe:originalsRetentionDays": "90"})
    originals = locked.one(checks.BUCKET, "originals")
    assert originals.inputs["objectLockEnabled"] is True
    lock = locked.one("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    assert lock.inputs["rule"]["defaultRetention"] == {"mode": "GOVERNANCE", "days": 90}
