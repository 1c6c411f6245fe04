"""Every request moto's HTTP server answers, named as AWS bills it: service, operation, target.

The end-to-end tests run the platform as separate processes (the API, the ingest process, a
Celery worker, Flower), so counting botocore calls in one process, as bench.bill_of_materials
does, misses most of them: Celery's task messages and events are sent by kombu in the worker and
the ingest process. A WSGI layer around moto's server sees them all.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_APP_ID = re.compile(r"\bapp/([\w.-]+)")  # botocore's user agent, with AWS_SDK_UA_APP_ID
_FORM_KEY = re.compile(rb'name="key"\r\n\r\n([^\r]*)\r\n')
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([a-z0-9-]+)/aws4_request")


@dataclass(frozen=True)
class Call:
    service: str  # "s3", "sqs", "sns", "dynamodb", ...
    operation: str  # as AWS names it: PutObject, SendMessage, Publish, PutItem, ...
    target: str  # bucket/key, queue name, topic name or table
    bytes_in: int  # the request body's length (an S3 PUT's object, an SQS message)
    messages: int = 0  # messages a ReceiveMessage returned
    detail: str = ""  # for a Celery event published to SNS: its type (task-sent, ...)
    caller: str = ""  # the AWS_SDK_UA_APP_ID of the process that sent it, if any


class RequestTally:
    """A WSGI layer that records a Call per request; thread-safe (moto's server is threaded)."""

    def __init__(self) -> None:
        self._calls: list[Call] = []
        self._lock = threading.Lock()

    def wrap(self, app: WsgiApp) -> WsgiApp:
        def counted(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            answer = app(environ, start_response)
            try:
                chunks = list(answer)
            finally:
                close = getattr(answer, "close", None)
                if close is not None:
                    close()
            call = classify(environ, body, b"".join(chunks))
            caller = _APP_ID.search(environ.get("HTTP_USER_AGENT", ""))
            call = replace(call, caller=caller.group(1)) if caller else call
            with self._lock:
                self._calls.append(call)
            return chunks

        return counted

    def mark(self) -> int:
        """A place in the record: calls(since=mark) is what came after it."""
        with self._lock:
            return len(self._calls)

    def calls(self, since: int = 0) -> list[Call]:
        with self._lock:
            return self._calls[since:]


def classify(environ: dict[str, Any], body: bytes, answer: bytes) -> Call:
    method = environ["REQUEST_METHOD"]
    path = environ.get("PATH_INFO", "")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    amz_target = environ.get("HTTP_X_AMZ_TARGET", "")
    scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = scope.group(1) if scope else ""
    if not service and "X-Amz-Credential" in query:  # a presigned URL
        service = query["X-Amz-Credential"][0].split("/")[3]
    if amz_target:  # the JSON protocols: SQS (as kombu and boto3 speak it), DynamoDB
        params = _json(body)
        operation = amz_target.rsplit(".", 1)[-1]
        if amz_target.startswith("AmazonSQS."):
            return _sqs(operation, params, len(body), answer)
        return Call(service, operation, _dynamodb_target(params), len(body))
    form = parse_qs(body.decode("latin-1")) if _is_form(environ) else {}
    action = (form.get("Action") or query.get("Action") or [""])[0]
    if action:  # the query protocol: SNS, STS, ...
        if action == "Publish":
            topic = form.get("TopicArn", [""])[0].rsplit(":", 1)[-1]
            return Call("sns", action, topic, len(body), detail=_event_type(form))
        return Call(service or "query", action, "", len(body))
    if method == "POST" and str(environ.get("CONTENT_TYPE", "")).startswith("multipart/form-data"):
        # A browser's presigned form (billed as a PUT): the key is one of its fields.
        key = _FORM_KEY.search(body)
        target = f"{path.strip('/')}/{key.group(1).decode() if key else ''}"
        return Call("s3", "PostObject", target, len(body))
    return Call("s3", _s3_operation(method, path, query), path.lstrip("/"), len(body))


def _sqs(operation: str, params: dict[str, Any], size: int, answer: bytes) -> Call:
    queue = str(params.get("QueueUrl", params.get("QueueName", ""))).rsplit("/", 1)[-1]
    received = len(_json(answer).get("Messages", [])) if operation == "ReceiveMessage" else 0
    return Call("sqs", operation, queue, size, messages=received)


def _dynamodb_target(params: dict[str, Any]) -> str:
    """The table, then the image a call is about (its key) or the user a Query is for."""
    table = str(params.get("TableName", ""))
    key = params.get("Key") or params.get("Item") or {}
    subject = key.get("image_id") or params.get("ExpressionAttributeValues", {}).get(":u") or {}
    return f"{table}/{subject.get('S', '')}"


# (method, a query parameter that names the operation, or "") -> S3's name for it
_S3_BY_QUERY = {
    ("POST", "uploads"): "CreateMultipartUpload",
    ("POST", "uploadId"): "CompleteMultipartUpload",
    ("POST", "delete"): "DeleteObjects",
    ("PUT", "partNumber"): "UploadPart",
    ("PUT", ""): "PutObject",
    ("GET", ""): "GetObject",
    ("HEAD", ""): "HeadObject",
    ("DELETE", "uploadId"): "AbortMultipartUpload",
    ("DELETE", ""): "DeleteObject",
}


def _s3_operation(method: str, path: str, query: dict[str, list[str]]) -> str:
    if "/" not in path.strip("/"):  # the bucket itself: made by provisioning, listed by tests
        return f"{method} bucket?{'&'.join(sorted(query))}"
    named = next((op for (m, q), op in _S3_BY_QUERY.items() if m == method and q in query), "")
    return named or _S3_BY_QUERY.get((method, ""), method)


def _event_type(form: dict[str, list[str]]) -> str:
    """The types of the Celery events kombu published, comma-separated: the message's body is
    base64-encoded JSON, one event or a list of them."""
    try:
        message = json.loads(form["Message"][0])
        payload = message.get("body", "")
        if message.get("properties", {}).get("body_encoding") == "base64":
            payload = base64.b64decode(payload)
        event = json.loads(payload)
    except (KeyError, ValueError, TypeError):
        return ""
    events = event if isinstance(event, list) else [event]  # a worker sends task events in groups
    return ",".join(str(e.get("type", "")) for e in events if isinstance(e, dict))


def _is_form(environ: dict[str, Any]) -> bool:
    return str(environ.get("CONTENT_TYPE", "")).startswith("application/x-www-form-urlencoded")


def _json(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def by_operation(calls: Iterable[Call]) -> Iterator[tuple[str, str, int]]:
    """(service, operation, count), most frequent first: for a failing test's message."""
    counts: dict[tuple[str, str], int] = {}
    for call in calls:
        counts[call.service, call.operation] = counts.get((call.service, call.operation), 0) + 1
    for (service, operation), n in sorted(counts.items(), key=lambda kv: -kv[1]):
        yield service, operation, n
