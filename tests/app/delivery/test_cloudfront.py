"""CloudFront signed URLs: the format CloudFront checks, verified with the public key."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from botocore.signers import CloudFrontSigner as BotocoreSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask.testing import FlaskClient

from app.api import create_app
from app.delivery import cloudfront
from app.delivery.cloudfront import CloudFrontSigner, cf_b64decode
from app.delivery.signing import InvalidSignature, signer_from_settings
from app.services import Services
from edge import origin_response
from tests.conftest import RecordingJobs, make_settings

KEY_ID = "K2JCJMDEHXQW5F"
BASE = "https://d111111abcdef8.cloudfront.net"
NOW = 1_800_000_000
IMAGE = "0123456789abcdef0123456789abcdef"  # the API's IDs: uuid4().hex
Auth = Callable[..., dict[str, str]]
SHA1 = hashes.SHA1()  # noqa: S303 - CloudFront signs with SHA-1 only


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def signer(key: rsa.RSAPrivateKey) -> CloudFrontSigner:
    return CloudFrontSigner(KEY_ID, key, BASE, ttl_seconds=3600, clock=lambda: NOW)


def split(url: str) -> tuple[str, dict[str, str]]:
    """(URL without the signature parameters, the signature parameters)."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query)
    signing = {"Expires", "Policy", "Signature", "Key-Pair-Id"}
    rest = "&".join(f"{k}={v}" for k, v in pairs if k not in signing)
    base = f"{parts.scheme}://{parts.netloc}{parts.path}"
    return (f"{base}?{rest}" if rest else base), {k: v for k, v in pairs if k in signing}


def check(url: str, key: rsa.RSAPrivateKey, now: float = NOW) -> None:
    plain, params = split(url)
    cloudfront.verify(plain, params, key_id=KEY_ID, public_key=key.public_key(), now=now)


def test_canned_url_is_what_botocore_makes_and_verifies_with_the_public_key(
    key: rsa.RSAPrivateKey,
) -> None:
    url = f"{BASE}/i/{IMAGE}/640.webp"
    ours = cloudfront.canned_url(url, NOW + 60, KEY_ID, key)

    def rsa_signer(message: bytes) -> bytes:
        return key.sign(message, padding.PKCS1v15(), SHA1)

    expires = datetime.fromtimestamp(NOW + 60, UTC)
    theirs = BotocoreSigner(KEY_ID, rsa_signer).generate_presigned_url(url, date_less_than=expires)
    assert ours == theirs
    query = dict(parse_qsl(urlsplit(ours).query))
    assert list(query) == ["Expires", "Signature", "Key-Pair-Id"]
    assert query["Expires"] == str(NOW + 60)
    assert query["Key-Pair-Id"] == KEY_ID
    assert set(query["Signature"]) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~"
    )
    # The signature is RSA-SHA1 over the canned policy for exactly this URL.
    policy = (
        '{"Statement":[{"Resource":"' + url + '",'
        '"Condition":{"DateLessThan":{"AWS:EpochTime":' + str(NOW + 60) + "}}}]}"
    )
    key.public_key().verify(
        cf_b64decode(query["Signature"]), policy.encode(), padding.PKCS1v15(), SHA1
    )
    check(ours, key)
    with pytest.raises(InvalidSignature, match="bad signature"):  # canned = exact URL only
        check(ours.replace("640.webp", "1280.webp"), key)
    with pytest.raises(InvalidSignature, match="expired"):
        check(ours, key, now=NOW + 60)


def test_the_grant_is_a_custom_policy_on_the_image_prefix(
    signer: CloudFrontSigner, key: rsa.RSAPrivateKey
) -> None:
    grant = signer.grant(IMAGE)
    params = dict(grant.params)
    assert list(params) == ["Policy", "Signature", "Key-Pair-Id"]
    policy: Any = json.loads(cf_b64decode(params["Policy"]))
    assert policy == {
        "Statement": [
            {
                "Resource": f"{BASE}/i/{IMAGE}*",
                "Condition": {"DateLessThan": {"AWS:EpochTime": grant.expires}},
            }
        ]
    }
    assert grant.expires is not None and grant.expires >= NOW + 3600
    key.public_key().verify(
        cf_b64decode(params["Signature"]),
        cf_b64decode(params["Policy"]),
        padding.PKCS1v15(),
        SHA1,
    )
    # One grant opens every URL of the image: auto (with options), each variant.
    for path in (f"/i/{IMAGE}", f"/i/{IMAGE}?mw=1280", f"/i/{IMAGE}/640.avif"):
        check(grant.apply(f"{BASE}{path}"), key)
    with pytest.raises(InvalidSignature, match="does not cover"):
        check(grant.apply(f"{BASE}/i/fedcba9876543210fedcba9876543210/640.avif"), key)
    with pytest.raises(InvalidSignature, match="does not cover"):
        check(grant.apply(f"https://evil.example/i/{IMAGE}/640.avif"), key)
    with pytest.raises(InvalidSignature, match="expired"):
        check(grant.apply(f"{BASE}/i/{IMAGE}/640.avif"), key, now=grant.expires)


def test_the_edge_fallback_redirect_stays_signed(signer: CloudFrontSigner) -> None:
    # The origin-response turns a missing 1280.avif into a 302 that carries the signature.
    grant = signer.grant(IMAGE)
    querystring = grant.apply("x?mw=1920").partition("?")[2]
    event = {
        "Records": [
            {
                "cf": {
                    "request": {"uri": f"/{IMAGE}/1280.avif", "querystring": querystring},
                    "response": {"status": "403", "headers": {}},
                }
            }
        ]
    }
    response = origin_response.handler(event, None)
    assert response["status"] == "302"
    location = response["headers"]["location"][0]["value"]
    assert location.startswith(f"/i/{IMAGE}/1280.jpg?Policy=")
    plain, params = split(f"{BASE}{location}")
    signer.verify(IMAGE, plain, params)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p: p | {"Key-Pair-Id": "KOTHERKEY"},
        lambda p: p | {"Signature": p["Signature"][:-6] + "AAAAA_"},
        lambda p: p | {"Policy": p["Policy"][:-4]},
        lambda p: p | {"Expires": str(NOW + 999)},
        lambda p: {k: v for k, v in p.items() if k != "Signature"},
        lambda p: {},
    ],
    ids=["key-id", "signature", "policy", "both-kinds", "no-signature", "unsigned"],
)
def test_tampered_custom_policy_urls_are_refused(
    signer: CloudFrontSigner, tamper: Callable[[dict[str, str]], dict[str, str]]
) -> None:
    params = dict(signer.grant(IMAGE).params)
    with pytest.raises(InvalidSignature):
        signer.verify(IMAGE, f"{BASE}/i/{IMAGE}/640.webp", tamper(params))


def test_a_policy_with_a_condition_we_cannot_check_is_refused(key: rsa.RSAPrivateKey) -> None:
    policy = json.dumps(
        {
            "Statement": [
                {
                    "Resource": f"{BASE}/i/{IMAGE}*",
                    "Condition": {
                        "DateLessThan": {"AWS:EpochTime": NOW + 60},
                        "IpAddress": {"AWS:SourceIp": "192.0.2.0/24"},
                    },
                }
            ]
        },
        separators=(",", ":"),
    ).encode()
    params = {
        "Policy": cloudfront.cf_b64encode(policy),
        "Signature": cloudfront.cf_b64encode(key.sign(policy, padding.PKCS1v15(), SHA1)),
        "Key-Pair-Id": KEY_ID,
    }
    with pytest.raises(InvalidSignature, match="unsupported"):
        cloudfront.verify(
            f"{BASE}/i/{IMAGE}", params, key_id=KEY_ID, public_key=key.public_key(), now=NOW
        )


@pytest.fixture
def pem(tmp_path: Path, key: rsa.RSAPrivateKey) -> Path:
    path = tmp_path / "cloudfront.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def test_the_app_signs_cloudfront_urls_and_its_route_checks_them_like_cloudfront(
    tmp_path: Path, pem: Path, services: Services, ready: str, auth: Auth
) -> None:
    settings = make_settings(
        tmp_path,
        public_base_url=BASE,
        cloudfront_key_id=KEY_ID,
        cloudfront_private_key_path=str(pem),
    )
    assert isinstance(signer_from_settings(settings), CloudFrontSigner)
    client: FlaskClient = create_app(settings, jobs=RecordingJobs()).test_client()
    record = client.get(f"/image/{ready}", headers=auth()).json
    assert record is not None
    assert "delivery" in record, record
    src = record["delivery"]["picture"]["img"]["src"]
    assert src.startswith(f"{BASE}/i/{ready}/640.jpg?Policy=")
    assert src.endswith(f"&Key-Pair-Id={KEY_ID}")
    parts = urlsplit(src)
    assert client.get(f"{parts.path}?{parts.query}").status_code == 200
    unsigned = client.get(parts.path)
    assert unsigned.status_code == 403
    assert unsigned.headers["Cache-Control"] == "no-store"


def test_a_bad_key_file_stops_start_up(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    settings = make_settings(
        tmp_path, cloudfront_key_id=KEY_ID, cloudfront_private_key_path=str(bad)
    )
    with pytest.raises(ValueError, match="IMAGEPIPE_CLOUDFRONT_PRIVATE_KEY_PATH"):
        create_app(settings, jobs=RecordingJobs())


def test_grants_are_reused_within_an_expiry_step(key: rsa.RSAPrivateKey) -> None:
    now = [NOW + 1.0]  # NOW is on a step boundary: start just after it
    signer = CloudFrontSigner(KEY_ID, key, BASE, ttl_seconds=3600, clock=lambda: now[0])
    first = signer.grant(IMAGE)
    now[0] += 1
    assert signer.grant(IMAGE) is first  # one RSA signature per image per step
    now[0] += 300
    later = signer.grant(IMAGE)
    assert later.expires == (first.expires or 0) + 300
    assert later.params != first.params
