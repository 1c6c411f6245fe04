"""`imagepipe upload`: the API's upload flow from a terminal, as any script or app would do it.

For each file: ``POST /upload`` for a presigned form, the bytes posted to it (or, when the
ticket has S3 multipart parts in ``upload.multipart``, each part PUT to its own URL and
``POST /upload/{id}/complete``), then ``GET /image/{id}`` until the image is ready or failed.
Requests go through app/api_client.py: network errors and 5xx answers are retried with
jittered exponential backoff; a 4xx is an answer about the request and is not.
"""

from __future__ import annotations

import json
import mimetypes
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from app.api_client import Api, ClientError, Refused, Transient, error_of, with_retries
from app.imaging.formats import CONTENT_TYPE_BY_SUFFIX

_BLOCK = 64 * 1024
_TYPES = CONTENT_TYPE_BY_SUFFIX


def content_type(path: Path) -> str:
    return _TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "image/jpeg"


class _CountingBody:
    """A request body read from pieces (bytes and a slice of a file), counting what is sent."""

    def __init__(
        self, pieces: list[bytes | tuple[Path, int, int]], progress: Callable[[int], None]
    ):
        self.pieces = pieces
        self.progress = progress
        self.length = sum(len(p) if isinstance(p, bytes) else p[2] for p in pieces)

    def __iter__(self) -> Iterator[bytes]:
        sent = 0
        for piece in self.pieces:
            if isinstance(piece, bytes):
                yield piece
                continue
            path, offset, length = piece
            with path.open("rb") as handle:
                handle.seek(offset)
                left = length
                while left:
                    block = handle.read(min(_BLOCK, left))
                    if not block:
                        raise OSError(f"{path} shrank while it was being sent")
                    left -= len(block)
                    sent += len(block)
                    yield block
                    self.progress(sent)


def _form(
    fields: dict[str, str], path: Path, kind: str, progress: Callable[[int], None]
) -> tuple[_CountingBody, str]:
    boundary = uuid.uuid4().hex
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    )
    name = path.name.replace('"', "_")
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: {kind}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    body = _CountingBody([head, (path, 0, path.stat().st_size), tail], progress)
    return body, f"multipart/form-data; boundary={boundary}"


def _send_body(
    api: Api, method: str, url: str, body: _CountingBody, headers: dict[str, str]
) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(  # noqa: S310
        url,
        data=iter(body),
        headers=headers | {"Content-Length": str(body.length)},
        method=method,
    )
    try:
        with api.opener(request, api.timeout) as response:
            response.read()
            return int(response.status), dict(response.headers.items())
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        if exc.code >= 500:
            raise Transient(f"the store answered {exc.code}") from None
        code, message = error_of(payload, exc)
        raise Refused(exc.code, code, message) from None
    except (urllib.error.URLError, OSError) as exc:
        raise Transient(str(getattr(exc, "reason", exc))) from None


@dataclass
class Uploaded:
    path: Path
    image_id: str | None = None
    record: dict[str, Any] | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.record is not None and self.record.get("status") == "ready"


def upload(
    api: Api,
    path: Path,
    *,
    progress: Callable[[int, int], None] = lambda done, total: None,
    on_retry: Callable[[int, float, Exception], None] | None = None,
) -> str:
    """Send one file; its image ID. Raises Refused, or Transient after the retries."""
    size = path.stat().st_size
    kind = content_type(path)
    ticket = api.call(
        "POST", "/upload", {"filename": path.name, "content_type": kind, "size": size}
    )
    image_id = str(ticket["image_id"])
    form = ticket["upload"]
    multipart = form.get("multipart") or {}
    if multipart.get("parts"):
        _send_parts(api, image_id, multipart, path, size=size, progress=progress, on_retry=on_retry)
        return image_id

    def post(attempt: int) -> None:
        body, boundary_type = _form(form["fields"], path, kind, lambda n: progress(n, size))
        try:
            _send_body(api, form["method"], form["url"], body, {"Content-Type": boundary_type})
        except Refused as exc:
            # An earlier attempt's bytes arrived, only its answer was lost: the form is spent.
            if attempt > 0 and exc.code == "already_uploaded":
                return
            raise

    with_retries(post, retries=api.retries, sleep=api.sleep, on_retry=on_retry)
    progress(size, size)
    return image_id


def _send_parts(
    api: Api,
    image_id: str,
    form: dict[str, Any],
    path: Path,
    *,
    size: int,
    progress: Callable[[int, int], None],
    on_retry: Callable[[int, float, Exception], None] | None,
) -> None:
    """S3 multipart: each part to its presigned URL; a dropped part is sent again, the parts
    already sent are not (resume), then the API joins them."""
    sent: dict[int, int] = {}
    etags: dict[int, str] = {}
    offset = 0
    for part in form["parts"]:
        number, length, url = int(part["part_number"]), int(part["size"]), str(part["url"])
        start = offset
        offset += length

        def put(
            _attempt: int,
            number: int = number,
            length: int = length,
            start: int = start,
            url: str = url,
        ) -> str:
            def count(n: int) -> None:
                sent[number] = n
                progress(sum(sent.values()), size)

            body = _CountingBody([(path, start, length)], count)
            # Without a type urllib declares a urlencoded form, which a store may try to parse.
            raw = {"Content-Type": "application/octet-stream"}
            _status, headers = _send_body(api, "PUT", url, body, raw)
            etag = next((v for k, v in headers.items() if k.lower() == "etag"), "")
            return etag.strip('"')

        etags[number] = with_retries(put, retries=api.retries, sleep=api.sleep, on_retry=on_retry)
    parts = [{"part_number": n, "etag": e} for n, e in sorted(etags.items())]
    api.call(
        "POST",
        form.get("complete_url") or f"/upload/{image_id}/complete",
        {"upload_id": form["upload_id"], "parts": parts},
    )


def wait(
    api: Api,
    image_id: str,
    *,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """GET /image/{id} until ready or failed (the last record when time runs out)."""
    deadline = clock() + timeout
    delay = 0.25
    while True:
        record: dict[str, Any] = api.call("GET", f"/image/{image_id}")
        if record["status"] in ("ready", "failed") or clock() > deadline:
            return record
        api.sleep(delay)
        delay = min(delay * 1.5, 3.0)


def delivery_urls(record: dict[str, Any]) -> dict[str, str]:
    """The URLs a client would use: the negotiated one, then every stored variant by name."""
    urls: dict[str, str] = {}
    delivery = record.get("delivery") or {}
    if delivery.get("auto_url"):
        urls["auto"] = delivery["auto_url"]
    for variant in record.get("variants") or []:
        urls[variant["name"]] = variant["url"]
    return urls


def summary(result: Uploaded) -> dict[str, Any]:
    record = result.record or {}
    return {
        "file": str(result.path),
        "image_id": result.image_id,
        "status": record.get("status", "error"),
        "failure_reason": record.get("failure_reason"),
        "failure_detail": record.get("failure_detail") or result.error,
        "width": record.get("width"),
        "height": record.get("height"),
        "urls": delivery_urls(record),
    }


def readable(stream: IO[str], results: list[Uploaded]) -> None:
    for result in results:
        line = summary(result)
        status = line["status"]
        if status == "failed":
            status += f" ({line['failure_reason']}: {line['failure_detail']})"
        elif status == "error":
            status += f": {line['failure_detail']}"
        print(f"{result.path}: {line['image_id'] or '-'} {status}", file=stream)
        for name, url in line["urls"].items():
            print(f"  {name}: {url}", file=stream)


def run(
    files: list[Path],
    api: Api,
    *,
    as_json: bool = False,
    wait_seconds: float = 600.0,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
) -> int:
    """Upload every file with a progress bar each, wait for processing, print the results.

    0 when every image is ready, 1 when any failed, 2 when the run could not go on
    (the API unreachable, the token refused)."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    out = out or sys.stdout
    console = Console(file=err or sys.stderr)
    results = [Uploaded(path) for path in files]
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[state]}"),
    )
    try:
        with Progress(*columns, console=console) as bars:
            tasks = {
                r.path: bars.add_task(r.path.name, total=_size(r.path) or 1, state="")
                for r in results
            }
            for result in results:
                task = tasks[result.path]
                if not result.path.is_file():
                    result.error = "no such file"
                    bars.update(task, state="no such file")
                    continue

                def moved(done: int, _total: int, task: Any = task) -> None:
                    bars.update(task, completed=done)

                def retrying(attempt: int, delay: float, exc: Exception, task: Any = task) -> None:
                    bars.update(task, state=f"retry {attempt} in {delay:.1f} s ({exc})")

                try:
                    result.image_id = upload(api, result.path, progress=moved, on_retry=retrying)
                except (Refused, Transient) as exc:
                    result.error = str(exc)
                    bars.update(task, state=f"[red]{exc}")
                    continue
                bars.update(task, state="processing")
            for result in results:
                if result.image_id is None:
                    continue
                result.record = wait(api, result.image_id, timeout=wait_seconds)
                bars.update(tasks[result.path], state=result.record["status"])
    except ClientError as exc:
        print(f"imagepipe: {exc}", file=err or sys.stderr)
        return 2
    if as_json:
        json.dump([summary(r) for r in results], out, indent=2)
        out.write("\n")
    else:
        readable(out, results)
    return 0 if all(r.ok for r in results) else 1


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
