"""A flood: one user sends one-byte uploads as fast as the API answers, and never backs off.
Back-pressure bounds what they can queue, so another user's photo still becomes ready soon.

"Soon" is asserted as work, not as seconds: all the while the other user's photo waits, the
flood's unfinished uploads (what can stand in the queue before it) stay within the per-user cap,
where without back-pressure the photo waits behind everything the flood has sent. On an idle
2-core machine the wait is about 5 s (the issue asks for 30 s); two test suites and two busy
loops side by side stretched it to 44 s, so a wall-clock bound would test the machine.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from app.catalog.sqlite import SQLiteCatalog
from tests.conftest import photo
from tests.e2e.processes import embedded_env, free_port, presigned_upload, wait_for, web, worker
from tests.e2e.test_kill import token

pytestmark = pytest.mark.e2e

OPEN_PER_USER = 20


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    env = embedded_env(
        tmp_path,
        port,
        IMAGEPIPE_MAX_OPEN_PER_USER=str(OPEN_PER_USER),
        # Back-pressure is what this test is about: the rate limits and quotas (which would stop
        # this flood sooner) are set out of the way; they have their own tests.
        IMAGEPIPE_UPLOAD_RATE_PER_USER="100000/minute",
        IMAGEPIPE_UPLOAD_RATE_PER_IP="100000/minute",
        IMAGEPIPE_QUOTA_UPLOADS_PER_DAY="1000000",
    )
    with ExitStack() as stack:
        web(stack, env, tmp_path)
        worker(stack, env, tmp_path)
        yield f"http://127.0.0.1:{port}", env


def flood(base: str, bearer: str, stop: threading.Event, seen: Counter[int | str]) -> None:
    headers = {"Authorization": f"Bearer {bearer}"}
    form = {"filename": "x.jpg", "content_type": "image/jpeg", "size": 1}
    sent = 0
    while not stop.is_set() and sent < 5000:  # bounded in count and, by the test, in time
        sent += 1
        ticket = requests.post(f"{base}/upload", json=form, headers=headers, timeout=30)
        seen[ticket.status_code] += 1
        if ticket.status_code == 429:
            seen[ticket.json()["error"]["code"]] += 1
        if ticket.status_code == 201:
            upload = ticket.json()["upload"]
            files = {"file": ("x.jpg", b"\xff", "image/jpeg")}
            posted = requests.post(upload["url"], data=upload["fields"], files=files, timeout=30)
            seen[posted.status_code] += 1


def test_another_users_photo_waits_behind_a_bounded_share_of_a_flood(
    api: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    base, env = api
    flooder, bob = token(env, "flood"), token(env, "bob")
    seen: Counter[int | str] = Counter()
    stop = threading.Event()
    threads = [threading.Thread(target=flood, args=(base, flooder, stop, seen)) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        # The flood has filled its share: the API is refusing it now.
        wait_for(
            lambda: True if seen["too_many_unfinished"] >= 10 else None,
            timeout=120,
            what="back-pressure 429s for the flood",
        )

        def call(method: str, path: str, **kwargs: object) -> requests.Response:
            headers = {"Authorization": f"Bearer {bob}"}
            return requests.request(method, f"{base}{path}", headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]

        data = photo("mate_Storm.jpg").read_bytes()
        sent = time.monotonic()
        image_id, _ = presigned_upload(call, data, "storm.jpg", "image/jpeg")

        catalog = SQLiteCatalog(tmp_path / "catalog.db")
        flood_open: list[int] = []

        def finished() -> dict[str, object] | None:
            flood_open.append(catalog.count_open("flood", uploaded_since=0))
            record: dict[str, object] = call("GET", f"/image/{image_id}").json()
            return record if record["status"] in ("ready", "failed") else None

        record = wait_for(finished, timeout=600, what="bob's photo to settle", interval=0.2)
        took = time.monotonic() - sent
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert record["status"] == "ready", record
    assert seen[201] > OPEN_PER_USER  # the flood kept getting in as its uploads finished
    # What could stand before bob's tasks in the queue stayed within the cap all along (the
    # three flood threads may each pass the check at once).
    assert max(flood_open) <= OPEN_PER_USER + 3, max(flood_open)
    print(f"bob's photo: ready {took:.1f} s after upload; flood unfinished <= {max(flood_open)}")
