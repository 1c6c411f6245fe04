"""Headers every response carries, and body limits every request meets before it is read.

The page keeps a bearer token in sessionStorage, so it gets a strict Content-Security-Policy:
scripts and styles only from this origin (no inline script: web/index.html loads upload.js),
images from the delivery origin, and no framing. API answers are data, never documents: they
get ``default-src 'none'``, so even a JSON body a browser was tricked into rendering runs nothing.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, request

from app.api.errors import ApiError
from app.settings import Settings

# JSON bodies are small (the largest: 10,000 multipart ETags); bigger is refused unread.
JSON_BODY_LIMIT = 1024 * 1024
# Routes that take a file: their limit is the app's MAX_CONTENT_LENGTH (upload size + form).
FILE_ENDPOINTS = frozenset({"uploads.receive_upload"})
HSTS = "max-age=63072000; includeSubDomains"

_COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}
_API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def page_csp(settings: Settings) -> str:
    """The upload page's policy: this origin, the delivery origin, the upload endpoint and the
    sign-in's token endpoint."""
    own = origin(settings.public_base_url)
    connect = ["'self'", own]
    if settings.cognito_hosted_ui_url:
        # The page exchanges its sign-in code for tokens at the hosted UI's /oauth2/token.
        connect.append(origin(settings.cognito_hosted_ui_url))
    if urlsplit(settings.originals_url).scheme == "s3":
        # The browser posts the file straight to the bucket (a presigned POST).
        connect.append(
            origin(settings.aws_endpoint_url)
            if settings.aws_endpoint_url
            else "https://*.amazonaws.com"
        )
    directives = {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": f"'self' {own} data: blob:",
        "connect-src": " ".join(dict.fromkeys(connect)),
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def install(app: Flask, settings: Settings) -> None:
    page_policy = page_csp(settings)
    https = urlsplit(settings.public_base_url).scheme == "https"

    @app.before_request
    def _limit_body() -> None:
        if request.endpoint in FILE_ENDPOINTS:
            return  # MAX_CONTENT_LENGTH, and the receiver's own signed policy
        # Werkzeug refuses a longer declared length at the first read, and stops reading a
        # chunked body at the limit; a declared length over it is answered before any read.
        request.max_content_length = JSON_BODY_LIMIT
        if request.content_length is not None and request.content_length > JSON_BODY_LIMIT:
            raise ApiError(
                413, "too_large", f"request bodies here are at most {JSON_BODY_LIMIT} bytes"
            )

    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in _COMMON.items():
            response.headers.setdefault(name, value)
        is_page = response.mimetype == "text/html"
        response.headers["Content-Security-Policy"] = page_policy if is_page else _API_CSP
        if https or request.is_secure:
            response.headers["Strict-Transport-Security"] = HSTS
        return response
