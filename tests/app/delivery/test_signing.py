"""Signed delivery URLs, unit level: grants, rotation, expiry and the settings that drive them."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.delivery.signing import (
    DERIVED_KEY_ID,
    Grant,
    HmacSigner,
    InvalidSignature,
    PublicImages,
    derived_key,
    expiry,
    signer_from_settings,
)
from app.settings import Settings, SettingsError, UrlSigningKeys
from tests.conftest import SECRET, make_settings

NOW = 1_800_000_000.0
NEW = ("new", b"n" * 32)
OLD = ("old", b"o" * 32)


def hmac_signer(*keys: tuple[str, bytes], now: float = NOW) -> HmacSigner:
    return HmacSigner(keys or (NEW,), ttl_seconds=3600, clock=lambda: now)


def params(grant: Grant) -> dict[str, str]:
    return dict(grant.params)


def test_expiry_is_rounded_up_so_urls_are_stable_for_a_while() -> None:
    # Every request from 900 s (exclusive) to 1200 s gets the same expiry, hence the same URL.
    assert expiry(900.5, 3600, step=300) == 4800
    assert expiry(1200.0, 3600, step=300) == 4800
    assert expiry(1200.5, 3600, step=300) == 5100
    assert expiry(1000.0, 60, step=300) == 1080  # a short TTL is its own step
    for now in (0.0, 17.5, 299.9, 1e9 + 7):
        assert 3600 <= expiry(now, 3600) - now <= 3600 + 300


def test_a_grant_is_exp_kid_sig_and_verifies_for_its_own_image() -> None:
    signer = hmac_signer()
    grant = signer.grant("abc")
    assert [k for k, _ in grant.params] == ["exp", "kid", "sig"]
    assert params(grant)["kid"] == "new"
    assert grant.expires == int(params(grant)["exp"]) > NOW
    signer.verify("abc", "ignored", params(grant))
    with pytest.raises(InvalidSignature, match="bad signature"):
        signer.verify("abd", "ignored", params(grant))


def test_apply_appends_after_an_existing_query() -> None:
    grant = Grant((("exp", "1"), ("kid", "k"), ("sig", "a-b_c")), 1)
    assert grant.apply("http://x/i/a") == "http://x/i/a?exp=1&kid=k&sig=a-b_c"
    assert grant.apply("http://x/i/a?mw=640") == "http://x/i/a?mw=640&exp=1&kid=k&sig=a-b_c"
    assert Grant().apply("http://x/i/a") == "http://x/i/a"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sig": "A" * 43}, "bad signature"),
        ({"exp": "+1800009999"}, "malformed expiry"),
        ({"exp": "1" * 13}, "malformed expiry"),
        ({"kid": "nobody"}, "unknown signing key"),
        ({"sig": ""}, "needs a signed URL"),
        ({"sig": "é" * 43}, "bad signature"),
    ],
)
def test_a_tampered_grant_is_refused(change: dict[str, str], message: str) -> None:
    signer = hmac_signer()
    tampered = params(signer.grant("abc")) | change
    with pytest.raises(InvalidSignature, match=message):
        signer.verify("abc", "ignored", tampered)


def test_a_later_expiry_is_tampering_not_an_extension() -> None:
    signer = hmac_signer()
    grant = params(signer.grant("abc"))
    later = grant | {"exp": str(int(grant["exp"]) + 86400)}
    with pytest.raises(InvalidSignature, match="bad signature"):
        signer.verify("abc", "ignored", later)


def test_an_expired_grant_is_refused() -> None:
    signer = hmac_signer()
    grant = signer.sign("abc", expires=int(NOW) - 1)
    with pytest.raises(InvalidSignature, match="expired"):
        signer.verify("abc", "ignored", params(grant))
    with pytest.raises(InvalidSignature, match="expired"):  # the expiry instant itself
        signer.verify("abc", "ignored", params(signer.sign("abc", expires=int(NOW))))


def test_rotation_new_key_signs_old_key_still_verifies() -> None:
    before = hmac_signer(OLD)
    after = hmac_signer(NEW, OLD)
    old_url = params(before.grant("abc"))
    after.verify("abc", "ignored", old_url)  # handed out before the rotation: still good
    assert params(after.grant("abc"))["kid"] == "new"
    retired = hmac_signer(NEW)
    with pytest.raises(InvalidSignature, match="unknown signing key"):
        retired.verify("abc", "ignored", old_url)


def test_the_same_kid_with_another_secret_is_refused() -> None:
    forged = params(hmac_signer(("new", b"x" * 32)).grant("abc"))
    with pytest.raises(InvalidSignature, match="bad signature"):
        hmac_signer().verify("abc", "ignored", forged)


def test_public_images_need_nothing() -> None:
    signer = PublicImages()
    assert signer.grant("abc") == Grant()
    signer.verify("abc", "http://x/i/abc", {})


def test_signer_from_settings(tmp_path: Path) -> None:
    assert isinstance(signer_from_settings(make_settings(tmp_path)), HmacSigner)
    public = make_settings(tmp_path, private_images=False)
    assert isinstance(signer_from_settings(public), PublicImages)
    with pytest.raises(SettingsError, match="IMAGEPIPE_CLOUDFRONT_PRIVATE_KEY_PATH"):
        signer_from_settings(make_settings(tmp_path, cloudfront_key_id="K1"))
    missing = make_settings(
        tmp_path, cloudfront_key_id="K1", cloudfront_private_key_path=str(tmp_path / "no.pem")
    )
    with pytest.raises(SettingsError, match="IMAGEPIPE_CLOUDFRONT_PRIVATE_KEY_PATH"):
        signer_from_settings(missing)


def test_without_keys_one_is_derived_from_the_secret_key(tmp_path: Path) -> None:
    signer = signer_from_settings(make_settings(tmp_path), clock=lambda: NOW)
    grant = params(signer.grant("abc"))
    assert grant["kid"] == DERIVED_KEY_ID
    derived = HmacSigner([(DERIVED_KEY_ID, derived_key(SECRET))], 3600, clock=lambda: NOW)
    derived.verify("abc", "ignored", grant)
    assert derived_key(SECRET) != SECRET.encode()  # never the token key itself


def test_signing_keys_are_read_from_the_environment(tmp_path: Path) -> None:
    env = {
        "IMAGEPIPE_DATA_DIR": str(tmp_path),
        "IMAGEPIPE_URL_SIGNING_KEYS": f"k2:{'b' * 20}, k1:{'a' * 20}",
    }
    settings = Settings.from_env(env)
    assert settings.private_images is True  # private by default
    assert settings.signed_url_ttl_seconds == 3600
    assert settings.url_signing_keys.keys == (("k2", "b" * 20), ("k1", "a" * 20))
    assert "b" * 20 not in f"{settings.url_signing_keys} {settings!r}"  # check-config prints it
    signer = signer_from_settings(settings, clock=lambda: NOW)
    assert params(signer.grant("abc"))["kid"] == "k2"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("IMAGEPIPE_URL_SIGNING_KEYS", "no-colon"),
        ("IMAGEPIPE_URL_SIGNING_KEYS", "k1:short"),
        ("IMAGEPIPE_URL_SIGNING_KEYS", f"k1:{'a' * 20},k1:{'b' * 20}"),
        ("IMAGEPIPE_URL_SIGNING_KEYS", f"k 1:{'a' * 20}"),
        ("IMAGEPIPE_SIGNED_URL_TTL_SECONDS", "0"),
        ("IMAGEPIPE_PRIVATE_IMAGES", "sometimes"),
        ("IMAGEPIPE_CLOUDFRONT_KEY_ID", "K1/../x"),
    ],
)
def test_a_bad_signing_setting_names_its_variable(
    tmp_path: Path, variable: str, value: str
) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({"IMAGEPIPE_DATA_DIR": str(tmp_path), variable: value})


def test_settings_default_keys_are_empty() -> None:
    assert UrlSigningKeys().keys == ()
