"""Private images over HTTP: the delivery routes accept only valid, unexpired signed URLs."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from flask.testing import FlaskClient

from app.api import create_app
from app.delivery.signing import HmacSigner
from app.services import Services, build_services
from app.settings import UrlSigningKeys
from tests.conftest import RecordingJobs, make_settings

Auth = Callable[..., dict[str, str]]
CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


def path_of(url: str) -> str:
    """The path and query of an absolute URL, as the test client wants it."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def hmac(services: Services) -> HmacSigner:
    signer = services.signer
    assert isinstance(signer, HmacSigner)
    return signer


def signed(services: Services, image_id: str, name: str | None = None, **kw: object) -> str:
    grant = hmac(services).sign(image_id, **kw) if kw else services.signer.grant(image_id)
    return path_of(grant.apply(services.delivery_url(image_id, name)))


def assert_forbidden(response: object) -> None:
    assert response.status_code == 403  # type: ignore[attr-defined]
    assert response.headers["Cache-Control"] == "no-store"  # type: ignore[attr-defined]
    assert response.json["error"]["code"] == "forbidden"  # type: ignore[attr-defined]


def test_a_signed_url_is_served(client: FlaskClient, services: Services, ready: str) -> None:
    response = client.get(signed(services, ready, "320.webp"))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/webp"
    auto = client.get(signed(services, ready), headers={"Accept": CHROME, "Sec-CH-Width": "300"})
    assert auto.status_code == 200
    assert auto.headers["Content-Type"] == "image/avif"
    # Content-Location names the variant with the same grant, so it is fetchable too.
    assert client.get(auto.headers["Content-Location"]).status_code == 200


@pytest.mark.parametrize("name", ["320.webp", None])
def test_an_unsigned_url_is_403_and_never_cached(
    client: FlaskClient, ready: str, name: str | None
) -> None:
    path = f"/i/{ready}/{name}" if name else f"/i/{ready}"
    assert_forbidden(client.get(path))


def test_a_conditional_request_needs_a_signature_too(
    client: FlaskClient, services: Services, ready: str
) -> None:
    etag = client.get(signed(services, ready, "320.jpg")).headers["ETag"]
    assert_forbidden(client.get(f"/i/{ready}/320.jpg", headers={"If-None-Match": etag}))
    again = client.get(signed(services, ready, "320.jpg"), headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_an_expired_url_is_403(client: FlaskClient, services: Services, ready: str) -> None:
    past = int(time.time()) - 1
    assert_forbidden(client.get(signed(services, ready, "320.webp", expires=past)))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda q: q | {"sig": q["sig"][:-2] + ("AA" if q["sig"][-2:] != "AA" else "BB")},
        lambda q: q | {"exp": str(int(q["exp"]) + 3600)},
        lambda q: q | {"kid": "k1"},
        lambda q: {k: v for k, v in q.items() if k != "sig"},
    ],
    ids=["signature", "expiry", "unknown-key", "no-signature"],
)
def test_a_tampered_url_is_403(
    client: FlaskClient,
    services: Services,
    ready: str,
    tamper: Callable[[dict[str, str]], dict[str, str]],
) -> None:
    url = signed(services, ready, "320.webp")
    path, _, query = url.partition("?")
    changed = tamper(dict(parse_qsl(query)))
    assert_forbidden(client.get(path, query_string=changed))


def test_a_grant_for_one_image_does_not_open_another(
    client: FlaskClient, services: Services, ready: str, wide_1000: str
) -> None:
    query = signed(services, wide_1000, "320.webp").partition("?")[2]
    assert_forbidden(client.get(f"/i/{ready}/320.webp?{query}"))


def test_a_signature_parameter_given_twice_is_403(
    client: FlaskClient, services: Services, ready: str
) -> None:
    url = signed(services, ready, "320.webp")
    assert_forbidden(client.get(f"{url}&sig=x"))


def test_an_unknown_image_without_signature_is_403_not_404(client: FlaskClient) -> None:
    # The signature is checked before the catalog: nothing is revealed about what exists.
    assert_forbidden(client.get("/i/doesnotexist/320.webp"))


def test_the_fallback_redirect_carries_the_signature(
    client: FlaskClient, services: Services, ready: str
) -> None:
    # The 600 px original has no 1280 slot: 1280.avif -> 1280.jpg -> 640.jpg, all signed.
    first = client.get(signed(services, ready, "1280.avif"))
    assert first.status_code == 302
    assert first.headers["Cache-Control"] == "no-store"
    second = client.get(path_of(first.headers["Location"]))
    assert second.status_code == 302
    final = client.get(path_of(second.headers["Location"]))
    assert final.status_code == 200
    assert final.headers["Content-Type"] == "image/jpeg"


def test_options_still_work_on_a_signed_auto_url(
    client: FlaskClient, services: Services, ready: str
) -> None:
    url = signed(services, ready)
    forced = client.get(f"{url}&f=webp&w=100")
    assert forced.status_code == 200
    assert forced.headers["Content-Location"].startswith(f"/i/{ready}/320.webp?exp=")
    assert client.get(f"{url}&colour=red").status_code == 400  # options still parsed by table


def test_the_image_view_hands_out_working_signed_urls(
    client: FlaskClient, auth: Auth, ready: str
) -> None:
    record = client.get(f"/image/{ready}", headers=auth()).json
    urls = [v["url"] for v in record["variants"]]
    urls += [record["processed_url"], record["delivery"]["picture"]["img"]["src"]]
    urls += [record["delivery"]["auto_url"], *record["delivery"]["low"].values()]
    for fmt_srcset in record["delivery"]["srcset"].values():
        urls += [entry.split(" ")[0] for entry in fmt_srcset.split(", ")]
    for url in urls:
        query = dict(parse_qsl(urlsplit(url).query))
        assert {"exp", "kid", "sig"} <= query.keys(), url
        assert client.get(path_of(url)).status_code == 200, url
    assert record["delivery"]["expires_at"].endswith("Z")


def test_keys_rotate_without_breaking_urls_already_handed_out(
    tmp_path: Path, services: Services, ready: str
) -> None:
    old, new = ("old", "o" * 32), ("new", "n" * 32)
    before = make_settings(tmp_path, url_signing_keys=UrlSigningKeys((old,)))
    after = make_settings(tmp_path, url_signing_keys=UrlSigningKeys((new, old)))
    retired = make_settings(tmp_path, url_signing_keys=UrlSigningKeys((new,)))
    url = signed(build_services(before), ready, "320.webp")
    assert "kid=old" in url

    def get(settings: object, path: str) -> object:
        app = create_app(settings, jobs=RecordingJobs())  # type: ignore[arg-type]
        return app.test_client().get(path)

    assert get(after, url).status_code == 200  # type: ignore[attr-defined]
    assert "kid=new" in signed(build_services(after), ready, "320.webp")
    assert_forbidden(get(retired, url))  # the old key removed: its URLs end


def test_public_images_need_no_signature(tmp_path: Path, services: Services, ready: str) -> None:
    public = make_settings(tmp_path, private_images=False)
    client = create_app(public, jobs=RecordingJobs()).test_client()
    assert client.get(f"/i/{ready}/320.webp").status_code == 200
    auto = client.get(f"/i/{ready}")
    assert auto.status_code == 200
    assert auto.headers["Content-Location"] == f"/i/{ready}/640.jpg"
