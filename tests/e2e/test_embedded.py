"""The whole platform on one machine with no services: real processes, real HTTP."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from tests.conftest import jpeg_bytes, photo
from tests.e2e.processes import (
    ROOT,
    embedded_env,
    flower,
    free_port,
    presigned_upload,
    python,
    wait_for,
    web,
    worker,
)

pytestmark = pytest.mark.e2e


@dataclass
class Platform:
    base: str
    flower: str
    token: str
    env: dict[str, str]
    worker: subprocess.Popen[bytes]

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return requests.request(method, f"{self.base}{path}", headers=headers, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    var = tmp_path_factory.mktemp("var")
    port, flower_port = free_port(), free_port()
    env = embedded_env(var, port, FLOWER_PORT=str(flower_port), FLOWER_UNAUTHENTICATED_API="true")
    with ExitStack() as stack:
        flower(stack, env, var)
        web(stack, env, var)
        proc = worker(stack, env, var)
        token = subprocess.run(
            python("-m", "app.cli", "token", "alice"),
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        yield Platform(
            f"http://127.0.0.1:{port}", f"http://127.0.0.1:{flower_port}", token, env, proc
        )
        assert proc.poll() is None, "the worker died during the tests"


def upload(platform: Platform, data: bytes, filename: str, content_type: str) -> str:
    return presigned_upload(platform.api, data, filename, content_type)[0]


def settled(platform: Platform, image_id: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        record: dict[str, Any] = platform.api("GET", f"/image/{image_id}").json()
        if platform.worker.poll() is not None:
            raise RuntimeError("the worker exited")
        return record if record["status"] in ("ready", "failed") else None

    return wait_for(probe, timeout=180, what=f"image {image_id} to settle", interval=0.25)


@pytest.fixture(scope="module")
def gps_12mp_photo(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    with Image.open(photo("lomiri16_Dragonfly_by_Bolly.jpg")) as img:
        exif = Image.Exif()
        gps = exif.get_ifd(0x8825)
        gps[1], gps[2], gps[3], gps[4] = "N", (59.0, 19.0, 45.0), "E", (18.0, 4.0, 6.0)
        return jpeg_bytes(img.convert("RGB"), exif=exif.tobytes(), quality=90)


def test_a_12_mp_photo_goes_from_upload_to_every_variant(
    platform: Platform, gps_12mp_photo: bytes
) -> None:
    with Image.open(io.BytesIO(gps_12mp_photo)) as original:
        assert original.width * original.height >= 12_000_000
        assert original.getexif().get_ifd(0x8825)
    image_id = upload(platform, gps_12mp_photo, "dragonfly.jpg", "image/jpeg")
    record = settled(platform, image_id)
    assert record["status"] == "ready", record
    assert (record["width"], record["height"]) == (4224, 3168)
    assert record["placeholder"]["data_uri"].startswith("data:image/webp;base64,")
    names = {v["name"] for v in record["variants"]}
    assert {f"{w}.{f}" for w in (320, 640, 1280, 1920) for f in ("avif", "webp", "jpg")} <= names
    types = {"jpg": "image/jpeg", "webp": "image/webp", "avif": "image/avif"}
    for variant in record["variants"]:
        response = requests.get(variant["url"], timeout=30)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == types[variant["format"]]
        assert "immutable" in response.headers["Cache-Control"]
        img = Image.open(io.BytesIO(response.content))
        assert img.size == (variant["width"], variant["height"])
        assert not img.getexif().get_ifd(0x8825), f"GPS left in {variant['name']}"
        again = requests.get(
            variant["url"], headers={"If-None-Match": response.headers["ETag"]}, timeout=30
        )
        assert again.status_code == 304
    listed = platform.api("GET", "/images?user_id=alice").json()["images"]
    assert image_id in [i["image_id"] for i in listed]


def test_a_pdf_renamed_to_jpg_fails_with_a_reason(platform: Platform) -> None:
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    image_id = upload(platform, pdf, "holiday.jpg", "image/jpeg")
    record = settled(platform, image_id)
    assert record["status"] == "failed"
    assert record["failure_reason"] == "unsupported_format"
    assert record["variants"] == []


def test_reprocess_runs_a_ready_image_through_the_worker_again(platform: Platform) -> None:
    from app.catalog import Status
    from app.services import build_services
    from app.settings import Settings

    with Image.open(photo("mate_Storm.jpg")) as img:
        small = jpeg_bytes(img.convert("RGB").resize((800, 533)), quality=85)
    image_id = upload(platform, small, "storm.jpg", "image/jpeg")
    assert settled(platform, image_id)["status"] == "ready"
    catalog = build_services(Settings.from_env(platform.env)).catalog
    assert catalog.get(image_id).attempts == 1
    cli = subprocess.run(
        python("-m", "app.cli", "reprocess", "--image", image_id),
        env=platform.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    assert "requeued 1" in cli.stdout

    def done_again() -> bool | None:
        record = catalog.get(image_id)
        return True if record.status is Status.READY and record.attempts == 2 else None

    wait_for(done_again, timeout=180, what="the reprocessed image to be ready again")


def test_flower_shows_the_chain_steps_by_name(platform: Platform) -> None:
    def names() -> set[str] | None:
        try:
            tasks = requests.get(f"{platform.flower}/api/tasks", timeout=5).json()
        except (requests.RequestException, ValueError):  # not up yet, or slow on a busy machine
            return None
        seen = {t.get("name") for t in tasks.values()}
        wanted = {f"imagepipe.{s}" for s in ("ingest", "resize", "encode", "record")}
        return seen if wanted <= seen else None

    assert wait_for(names, timeout=60, what="Flower to list the chain's tasks")


def test_health_over_http(platform: Platform) -> None:
    body = requests.get(f"{platform.base}/health", timeout=10).json()
    assert body["status"] == "ok"
    assert Path(platform.env["IMAGEPIPE_DATA_DIR"], "catalog.db").exists()


def image_src(image: Any) -> str:
    return str(image.evaluate("img => img.currentSrc"))


def test_the_upload_page_in_a_real_browser(
    platform: Platform, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Debian's Chromium, driven by Playwright: choose a photo, watch it become an image."""
    from playwright.sync_api import sync_playwright

    shots = tmp_path_factory.mktemp("browser")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            page.goto(f"{platform.base}/#token={platform.token}")
            page.get_by_text("Signed in as alice").wait_for(timeout=10_000)
            assert "token=" not in page.url  # the token leaves the address bar at once
            page.set_input_files("#file", str(photo("mate_Storm.jpg")))
            item = page.locator("#items li").first
            item.and_(page.locator("[data-status=ready]")).wait_for(timeout=120_000)
            image = item.locator("img")
            page.wait_for_function(
                "img => img.complete && img.currentSrc.includes('/i/') && img.naturalWidth > 0",
                arg=image.element_handle(),
                timeout=30_000,
            )
            # A real variant, not the placeholder (naturalWidth is in CSS px under srcset).
            assert re.search(r"/i/\w+/(320|640|1280|1920)\.(avif|webp|jpg)", image_src(image))
            page.screenshot(path=str(shots / "upload-page.png"))
        finally:
            browser.close()


def temporary_queues(platform: Platform) -> set[str]:
    """Queues that live as long as their process (tasks/fs_transport.py): folders and bindings."""
    broker = Path(platform.env["IMAGEPIPE_DATA_DIR"], "broker")
    folders = {p.name for p in (broker / "queues").iterdir() if (p / ".lock").exists()}
    bound = set()
    for table in (broker / "exchanges").glob("*.exchange"):
        bound |= {queue for _, _, queue in json.loads(table.read_text())}
    return folders | {q for q in bound if q.startswith("celeryev.") or ".reply." in q}


@pytest.mark.parametrize("stop", ["SIGTERM at start-up", "SIGKILL"])
def test_flowers_queues_go_when_it_stops(platform: Platform, tmp_path: Path, stop: str) -> None:
    before = temporary_queues(platform)
    with ExitStack() as stack:
        proc = flower(stack, platform.env | {"FLOWER_PORT": str(free_port())}, tmp_path)
        if stop == "SIGKILL":
            made = wait_for(
                lambda: {q for q in temporary_queues(platform) - before if "celeryev" in q} or None,
                timeout=60,
                what="the second Flower's event queue",
            )
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        # Otherwise stopped (SIGTERM) as soon as it answers: its start-up may not be over.
    # A clean exit deletes its queues; a killed process's go at the next route or sweep (5 s).
    wait_for(
        lambda: True if temporary_queues(platform) <= before else None,
        timeout=60,
        what=f"the queues of a Flower stopped by {stop} to go",
    )
    if stop == "SIGKILL":
        assert not made & temporary_queues(platform)
