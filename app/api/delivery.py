"""GET /i/{id} and /i/{id}/{name}: the embedded CDN, running the same edge/ code as CloudFront.

Private images (IMAGEPIPE_PRIVATE_IMAGES) are served only on a valid signed URL, checked
first, before anything about the image is looked up: an unsigned, expired or tampered URL
gets 403 with ``Cache-Control: no-store``, as CloudFront answers before its cache.
"""

from __future__ import annotations

from urllib.parse import unquote_plus, urlencode

from flask import Blueprint, Response, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from app import packs
from app.api.context import platform
from app.api.errors import ApiError
from app.api.operations import IMAGE_TYPES, Reply, operation
from app.api.schemas import NEGOTIATION_HEADERS, DeliveryQuery
from app.catalog import ImageRecord, RecordNotFound, Status, VariantRecord
from app.delivery.signing import SIGNATURE_PARAMS, InvalidSignature
from app.rendering import Made, RenderBusy, RenderRefused, render_on_request, stood_in
from app.services import Services
from app.storage import BlobNotFound
from edge.negotiate import negotiate
from edge.origin_response import NO_STORE, fallback_name, response_headers
from edge.variants import STAND_IN_HEADER, Variant, parse_name

blueprint = Blueprint("delivery", __name__)


@blueprint.get("/i/<image_id>")
@operation(
    "The best variant for this viewer",
    tag="delivery",
    auth=False,
    query=DeliveryQuery,
    headers=NEGOTIATION_HEADERS,
    ok={
        200: Reply(
            "the chosen variant (while the image processes, maybe a stored one standing in "
            "for it: `X-Imagepipe-Stand-In`, `no-store`)",
            None,
            media=IMAGE_TYPES,
            headers=("ETag", "Content-Location", STAND_IN_HEADER),
        ),
        304: Reply("not modified (If-None-Match)", None, media=()),
    },
    errors=(403, 404, 409, 503),
)
def auto(image_id: str) -> Response:
    """Negotiated by edge/ as at CloudFront: `Accept`, Client Hints and network hints; `w` and
    `f` choose explicitly. Private images need the signature the API appended."""
    signature = _authorize(image_id)
    query = _options()
    query.pop("mw", None)
    record = _record(image_id)
    available = [_edge_variant(v) for v in record.variants]
    if not available:
        raise ApiError(404, "not_ready", f"image {image_id!r} has no variants yet")
    try:
        choice = negotiate(dict(request.headers), available, explicit=query)
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", str(exc)) from None
    response = _serve(record, choice.variant)
    if record.status is not Status.READY:
        # Chosen from what is stored so far: once the AVIFs are there the choice changes, so
        # no cache may keep this answer under the negotiated URL.
        response.headers["Cache-Control"] = NO_STORE
    response.headers["X-Imagepipe-Variant"] = choice.cache_key()
    served = response.headers.get(STAND_IN_HEADER, choice.variant.name)  # what the bytes are
    response.headers["Content-Location"] = f"/i/{image_id}/{served}{signature}"
    return response


@blueprint.get("/i/<image_id>/<name>")
@operation(
    "One variant",
    tag="delivery",
    auth=False,
    query=DeliveryQuery,
    ok={
        200: Reply(
            "the variant, immutable; while the image processes, a stored one standing in for "
            "one not stored yet (`X-Imagepipe-Stand-In` names it; `no-store`, no ETag)",
            None,
            media=IMAGE_TYPES,
            headers=("ETag", STAND_IN_HEADER),
        ),
        302: Reply(
            "the variant is missing: a more basic one", None, media=(), headers=("Location",)
        ),
        304: Reply("not modified (If-None-Match)", None, media=()),
    },
    errors=(403, 404, 409, 503),
)
def named(image_id: str, name: str) -> BaseResponse:
    """`{320,640,1280,1920}.{avif,webp,jpg}`, `160-lq.*`, `640-lq.*`. Unsigned, expired or
    tampered: 403 with `Cache-Control: no-store`."""
    signature = _authorize(image_id)
    if set(_options()) - {"mw"}:
        raise ApiError(400, "unknown_parameter", "a named variant takes no query parameters")
    wanted = parse_name(name)
    if wanted is None:
        raise ApiError(404, "not_found", f"{name!r} is not a variant name")
    record = _record(image_id)
    if record.variant(name) is None:
        # Not recorded yet while processing (an AVIF before encode): a stored one stands in.
        substitute = stood_in(platform().services, record, name)
        if substitute is not None:
            return stand_in_response(substitute)
        # As the edge's origin-response does: fall back to a more basic variant.
        fallback = fallback_name(wanted)
        if fallback is None:
            raise ApiError(404, "not_found", f"image {image_id!r} has no variant {name!r}")
        # The signature covers every URL of the image, so the redirect carries it along.
        response = redirect(f"/i/{image_id}/{fallback}{signature}", code=302)
        response.headers["Cache-Control"] = NO_STORE
        return response
    return _serve(record, wanted)


def _authorize(image_id: str) -> str:
    """Check the request's signature (if images are private); return it as a query suffix.

    The suffix (``?exp=..&kid=..&sig=..``, or ``""``) is what a redirect or
    ``Content-Location`` must carry to stay valid.
    """
    services = platform().services
    signed = [(k, v) for k, v in request.args.items(multi=True) if k in SIGNATURE_PARAMS]
    params = dict(signed)
    if len(params) != len(signed) and services.settings.private_images:
        raise ApiError(403, "forbidden", "a signature parameter is given twice")
    # The URL as the viewer asked for it, minus the signature (what CloudFront matches).
    others = [raw for raw, key in _raw_fields() if key not in SIGNATURE_PARAMS]
    url = f"{services.settings.public_base_url}{request.path}"
    url += f"?{'&'.join(others)}" if others else ""
    try:
        services.signer.verify(image_id, url, params)
    except InvalidSignature as exc:
        raise ApiError(403, "forbidden", str(exc)) from None
    return f"?{urlencode(signed)}" if signed else ""


def _raw_fields() -> list[tuple[str, str]]:
    """``(raw "key=value" text, decoded key)`` for each query field, in request order."""
    text = request.query_string.decode("latin-1")
    return [(raw, unquote_plus(raw.partition("=")[0])) for raw in text.split("&") if raw]


def _options() -> dict[str, str]:
    """The non-signature query fields; one given twice is a 400, as at the edge."""
    options: dict[str, str] = {}
    for key, value in request.args.items(multi=True):
        if key in SIGNATURE_PARAMS:
            continue
        if key in options:
            raise ApiError(400, "invalid_parameter", f"option {key[:32]!r} given twice")
        options[key] = value
    return options


def _record(image_id: str) -> ImageRecord:
    try:
        return platform().services.catalog.get(image_id)
    except RecordNotFound:
        raise ApiError(404, "not_found", f"no image {image_id!r}") from None


def _edge_variant(v: VariantRecord) -> Variant:
    # Sizes stay unknown, as at the edge, so a laptop chooses exactly what CloudFront would.
    known = parse_name(v.name)
    assert known is not None, v.name  # the pipeline writes only names from edge.variants
    return known


def _serve(record: ImageRecord, variant: Variant) -> Response:
    stored = record.variant(variant.name)
    if stored is None:
        raise ApiError(404, "not_found", f"image {record.image_id!r} has no {variant.name!r}")
    if stored.on_request:
        return _serve_on_request(record, variant, stored.key)
    etag = stored.etag or f"{record.image_id}-{variant.name}-{stored.bytes}"
    headers = response_headers(variant)
    if request.if_none_match.contains(etag):
        response = Response(status=304, headers=headers)
    else:
        response = _stored_response(stored, variant, headers)
    response.set_etag(etag)
    return response


def _stored_response(stored: VariantRecord, variant: Variant, headers: dict[str, str]) -> Response:
    store = platform().services.variants
    try:
        if stored.offset is not None:  # a range of its stage's pack (app/packs.py)
            return Response(packs.read(store, stored), status=200, headers=headers)
        stream = store.open(stored.key)
    except BlobNotFound:
        raise ApiError(404, "not_found", f"variant {variant.name!r} is missing") from None
    response = Response(stream, status=200, headers=headers, direct_passthrough=True)
    response.content_length = stored.bytes
    return response


def _serve_on_request(record: ImageRecord, variant: Variant, key: str) -> Response:
    """A variant left to its first request: served if stored, else made now (app/rendering.py)."""
    services = platform().services
    try:
        etag = services.variants.stat(key).etag
        if request.if_none_match.contains(etag):
            return _not_modified(variant, etag)
        data = services.variants.get(key)
    except BlobNotFound:
        made = render_or_refuse(services, record.image_id, variant.name, record=record)
        if made.stand_in:
            return stand_in_response(made)
        data, etag = made.data, made.etag
    response = Response(data, status=200, headers=response_headers(variant))
    response.set_etag(etag)
    return response


def stand_in_response(made: Made) -> Response:
    """A stored variant served for one not made yet (app/stand_in.py): marked, never cached."""
    variant = parse_name(made.name)
    assert variant is not None, made.name  # a recorded name
    headers = response_headers(variant)
    headers["Cache-Control"] = NO_STORE
    headers[STAND_IN_HEADER] = made.name
    return Response(made.data, status=200, headers=headers)


def _not_modified(variant: Variant, etag: str) -> Response:
    response = Response(status=304, headers=response_headers(variant))
    response.set_etag(etag)
    return response


def render_or_refuse(
    services: Services, image_id: str, name: str, *, record: ImageRecord | None = None
) -> Made:
    """render_on_request, its refusals as API errors (404/409, or 503 with Retry-After)."""
    try:
        return render_on_request(services, image_id, name, record=record)
    except RenderRefused as refused:
        raise ApiError(refused.status, refused.code, refused.message) from None
    except RenderBusy as busy:
        raise ApiError(
            503,
            "busy",
            "too many variants are being made; ask again shortly",
            headers={"Retry-After": str(busy.retry_after)},
        ) from None
