"""`imagepipe upload` against a real embedded platform (gunicorn + Celery worker)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import photo
from tests.e2e.processes import ROOT, embedded_env, free_port, python, web, worker

pytestmark = pytest.mark.e2e

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@dataclass
class Api:
    base: str
    env: dict[str, str]
    token: str

    def upload(self, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        command = python("-m", "app.cli", "upload", *args, "--api", self.base)
        command += ["--token", self.token if token is None else token]
        return subprocess.run(
            command,
            check=False,
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    var = tmp_path_factory.mktemp("var")
    port = free_port()
    env = embedded_env(var, port, IMAGEPIPE_UPLOAD_RATE_PER_USER="1000/minute")
    with ExitStack() as stack:
        web(stack, env, var)
        proc = worker(stack, env, var)
        token = subprocess.run(
            python("-m", "app.cli", "token", "carla"),
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        yield Api(f"http://127.0.0.1:{port}", env, token)
        assert proc.poll() is None, "the worker died during the tests"


def test_two_photos_are_uploaded_processed_and_listed_as_json(api: Api) -> None:
    files = [str(photo("mate_Storm.jpg")), str(photo("skimage_coffee.png"))]
    done = api.upload(*files, "--json")
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert [r["file"] for r in results] == files
    assert {r["status"] for r in results} == {"ready"}
    for result in results:
        assert result["urls"]["auto"].startswith(api.base)
        variant = requests.get(result["urls"]["320.webp"], timeout=30)
        assert variant.status_code == 200
        assert variant.headers["Content-Type"] == "image/webp"
    # Each file's bar ends full: "695.1/695.1 kB".
    assert len(re.findall(r"(\d+\.\d)/\1 kB", done.stderr)) == 2, done.stderr


def test_a_failed_file_is_reported_with_its_reason_and_a_non_zero_exit(
    api: Api, tmp_path: Path
) -> None:
    fake = tmp_path / "holiday.jpg"
    fake.write_bytes(PDF)
    done = api.upload(str(photo("skimage_coffee.png")), str(fake))
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert any(" ready" in line and "skimage_coffee.png" in line for line in lines), lines
    assert any("holiday.jpg" in line and "failed (unsupported_format" in line for line in lines)


def test_a_refused_token_is_said_plainly(api: Api) -> None:
    done = api.upload(str(photo("skimage_coffee.png")), token="not-a-token")
    assert done.returncode == 2
    assert "the API refused the token" in done.stderr


def test_an_unreachable_api_is_said_plainly(api: Api) -> None:
    unused = f"http://127.0.0.1:{free_port()}"
    command = python("-m", "app.cli", "upload", str(photo("skimage_coffee.png")))
    command += ["--api", unused, "--token", api.token]
    done = subprocess.run(
        command, check=False, env=api.env, cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 2
    assert f"cannot reach the API at {unused}" in done.stderr
