"""Every key made from IMAGEPIPE_SECRET_KEY comes from one HKDF derivation, one key per purpose."""

from __future__ import annotations

from pathlib import Path

from app.audit import subject_digest
from app.delivery.signing import derived_key
from app.keys import derive_key
from app.original_links import LocalOriginalLinks
from app.uploads.policy import LocalUploadSigner

SECRET = "test-secret-key-0123456789"


def test_derive_key_is_hkdf_sha256_by_rfc_5869() -> None:
    # RFC 5869, test case 3 (SHA-256, empty salt and info): the first 32 bytes of its OKM.
    okm = "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
    assert derive_key("\x0b" * 22, "").hex() == okm


def test_each_purpose_gets_its_own_key_and_none_is_the_secret() -> None:
    purposes = ("a/v1", "a/v2", "b/v1")
    keys = {derive_key(SECRET, purpose) for purpose in purposes}
    assert len(keys) == len(purposes)
    assert SECRET.encode() not in keys
    assert derive_key(SECRET, "a/v1") == derive_key(SECRET, "a/v1")
    assert derive_key(SECRET + "x", "a/v1") != derive_key(SECRET, "a/v1")


def test_upload_forms_download_links_urls_and_audit_use_distinct_derived_keys(
    tmp_path: Path,
) -> None:
    uploads = LocalUploadSigner(SECRET, "http://testserver/upload/receive", ttl_seconds=60)
    links = LocalOriginalLinks(SECRET, "http://testserver", 60)
    keys = [uploads._key, links._key, derived_key(SECRET)]
    assert len(set(keys)) == 3
    # Each is the one derivation under its own purpose, not a hash of its own making.
    assert uploads._key == derive_key(SECRET, "imagepipe/upload-policy/v2")
    assert links._key == derive_key(SECRET, "imagepipe/original-download/v2")
    assert derived_key(SECRET) == derive_key(SECRET, "imagepipe/delivery-url-signing/v2")
    assert subject_digest(SECRET, "alice") != subject_digest(SECRET + "x", "alice")
