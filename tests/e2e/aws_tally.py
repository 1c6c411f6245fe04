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
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

log = logging.getLogger(__name__)
_APP_ID = re.compile(r"\bapp/([\w.-]+)")  # botocore's user agent, with AWS_SDK_UA_APP_ID
_FORM_KEY = re.compile(rb'name="key"\r\n\r\n([^\r]*)\r\n')
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([a-z0-9-]+)/aws4_request")


@dataclass(frozen=True)
class CeleryEvent:
    type: str  # task-sent, task-received, ..., worker-heartbeat
    task_id: str
    args: str  # the task's arguments as Celery shows them (task-sent and task-received only)


@dataclass(frozen=True)
class Call:
    service: str  # "s3", "sqs", "sns", "dynamodb", ...
    operation: str  # as AWS names it: PutObject, SendMessage, Publish, PutItem, ...
    target: str  # bucket/key, queue name, topic name, or table/image ID
    bytes_in: int  # the request body's length (an S3 PUT's object, an SQS message)
    status: int = 0  # the HTTP status moto answered with
    messages: int = 0  # messages a ReceiveMessage returned
    task: str = ""  # a Celery task message sent: its task ID and arguments
    events: tuple[CeleryEvent, ...] = ()  # the Celery events a Publish carried
    caller: str = ""  # AWS_SDK_UA_APP_ID of the sending process (botocore's calls only)


class RequestTally:
    """A WSGI layer that records a Call per request; thread-safe (moto's server is threaded)."""

    def __init__(self) -> None:
        self._calls: list[Call] = []
        self._lock = threading.Lock()

    def wrap(self, app: WsgiApp) -> WsgiApp:
        def counted(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            body = _body(environ)
            environ["wsgi.input"] = io.BytesIO(body)
            status: list[int] = []

            def started(code: str, headers: Any, *info: Any) -> Any:
                status.append(int(code.split(maxsplit=1)[0]))
                return start_response(code, headers, *info)

            answer = app(environ, started)
            try:
                chunks = list(answer)
            finally:
                close = getattr(answer, "close", None)
                if close is not None:
                    close()
            try:
                call = classify(environ, body, b"".join(chunks))
            except Exception:  # the request is served: a tally's error must not fail it
                log.exception("request not classified")
                call = Call("?", "unclassified", environ.get("PATH_INFO", ""), len(body))
            caller = _APP_ID.search(environ.get("HTTP_USER_AGENT", ""))
            call = replace(call, status=status[0] if status else 0)
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


def _body(environ: dict[str, Any]) -> bytes:
    stream = environ["wsgi.input"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        return bytes(stream.read(length))
    # A chunked body has no length; the server has undone the chunking and ends the stream.
    return bytes(stream.read()) if environ.get("wsgi.input_terminated") else b""


def classify(environ: dict[str, Any], body: bytes, answer: bytes) -> Call:
    method = environ["REQUEST_METHOD"]
    path = environ.get("PATH_INFO", "")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    amz_target = environ.get("HTTP_X_AMZ_TARGET", "")
    scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = scope.group(1) if scope else ""
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
            return Call("sns", action, topic, len(body), events=_events(form))
        return Call(service or "query", action, "", len(body))
    return _rest(environ, method, path, query, body)


def _rest(
    environ: dict[str, Any], method: str, path: str, query: dict[str, list[str]], body: bytes
) -> Call:
    """S3's REST protocol, or moto's own API."""
    if path.startswith("/moto-api/"):
        return Call("moto", path, "", len(body))
    if method == "POST" and str(environ.get("CONTENT_TYPE", "")).startswith("multipart/form-data"):
        # A browser's presigned form (billed as a PUT): the key is one of its fields.
        key = _FORM_KEY.search(body)
        target = f"{path.strip('/')}/{key.group(1).decode('utf-8', 'replace') if key else ''}"
        return Call("s3", "PostObject", target, len(body))
    operation = _s3_operation(method, path, query, "HTTP_X_AMZ_COPY_SOURCE" in environ)
    return Call("s3", operation, path.lstrip("/"), len(body))


def _sqs(operation: str, params: dict[str, Any], size: int, answer: bytes) -> Call:
    queue = str(params.get("QueueUrl", params.get("QueueName", ""))).rsplit("/", 1)[-1]
    received = len(_json(answer).get("Messages", [])) if operation == "ReceiveMessage" else 0
    task = _task(str(params.get("MessageBody", ""))) if operation == "SendMessage" else ""
    return Call("sqs", operation, queue, size, messages=received, task=task)


def _dynamodb_target(params: dict[str, Any]) -> str:
    """The table, then the image a call is about (its key) or the user a Query is for."""
    table = str(params.get("TableName", ""))
    key = params.get("Key") or params.get("Item") or {}
    subject = key.get("image_id") or params.get("ExpressionAttributeValues", {}).get(":u") or {}
    return f"{table}/{subject.get('S', '')}"


# (method, the query parameter that names the operation, or "") -> S3's name for it
_S3_BY_QUERY = {
    ("POST", "uploads"): "CreateMultipartUpload",
    ("POST", "uploadId"): "CompleteMultipartUpload",
    ("POST", "delete"): "DeleteObjects",
    ("PUT", "partNumber"): "UploadPart",
    ("PUT", ""): "PutObject",
    ("GET", "uploadId"): "ListParts",
    ("GET", ""): "GetObject",
    ("HEAD", ""): "HeadObject",
    ("DELETE", "uploadId"): "AbortMultipartUpload",
    ("DELETE", ""): "DeleteObject",
}


def _s3_operation(method: str, path: str, query: dict[str, list[str]], copy: bool) -> str:
    """Path-style requests (moto's server at 127.0.0.1): /bucket, or /bucket/key."""
    if "/" not in path.strip("/"):  # the bucket itself: made by provisioning, listed by tests
        return f"{method} bucket?{'&'.join(sorted(query))}"
    if method == "PUT" and copy:
        return "CopyObject"
    named = next((op for (m, q), op in _S3_BY_QUERY.items() if m == method and q in query), "")
    if named:
        return named
    if query:  # an object's subresource: ?tagging, ?acl, ...
        return f"{method} object?{'&'.join(sorted(query))}"
    return _S3_BY_QUERY.get((method, ""), method)


def _task(body: str) -> str:
    """A Celery task message's ID and arguments (kombu sends the message base64-encoded)."""
    try:
        message = json.loads(base64.b64decode(body))
    except ValueError:
        return ""
    headers = message.get("headers", {}) if isinstance(message, dict) else {}
    return f"{headers.get('id', '')} {headers.get('argsrepr', '')}".strip()


def _events(form: dict[str, list[str]]) -> tuple[CeleryEvent, ...]:
    """The Celery events kombu published: the message's body is base64-encoded JSON, one event
    or a list of them (a worker sends task events in groups)."""
    try:
        message = json.loads(form["Message"][0])
        payload = message.get("body", "")
        if message.get("properties", {}).get("body_encoding") == "base64":
            payload = base64.b64decode(payload)
        decoded = json.loads(payload)
    except (KeyError, ValueError, TypeError, AttributeError):
        return ()
    listed = decoded if isinstance(decoded, list) else [decoded]
    return tuple(
        CeleryEvent(str(e.get("type", "")), str(e.get("uuid", "")), str(e.get("args", "")))
        for e in listed
        if isinstance(e, dict)
    )


def _is_form(environ: dict[str, Any]) -> bool:
    return str(environ.get("CONTENT_TYPE", "")).startswith("application/x-www-form-urlencoded")


def _json(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def by_operation(calls: Iterable[Call]) -> Iterator[tuple[str, str, str, int]]:
    """(caller, service, operation, count), most frequent first: for a failing test's message."""
    counts: dict[tuple[str, str, str], int] = {}
    for call in calls:
        key = (call.caller, call.service, call.operation)
        counts[key] = counts.get(key, 0) + 1
    for (caller, service, operation), n in sorted(counts.items(), key=lambda kv: -kv[1]):
        yield caller, service, operation, n
