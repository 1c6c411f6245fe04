"""The image: its entry points are the Procfile's; built and started where a Docker engine runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.processes import wait_for

ROOT = Path(__file__).resolve().parents[1]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
IMAGE = "imagepipe-test:latest"


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def entry_point_command(name: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(ENTRYPOINT), name],
        env={
            "PATH": os.environ["PATH"],
            "IMAGEPIPE_PROCFILE": str(ROOT / "Procfile"),
            "IMAGEPIPE_ENTRYPOINT_DRY_RUN": "1",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("name", sorted(procfile()))
def test_each_procfile_process_is_an_entry_point_of_the_image(name: str) -> None:
    ran = entry_point_command(name)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.rstrip("\n") == procfile()[name]


def test_an_unknown_process_is_refused() -> None:
    ran = entry_point_command("shell")
    assert ran.returncode == 64
    assert "no 'shell'" in ran.stderr
    assert entry_point_command("web;id").returncode == 64


def test_the_dockerfile_runs_the_entry_point_non_root_from_a_pinned_base() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:\d+\.\d+\.\d+-slim-\w+$", dockerfile, re.M)
    assert len(re.findall(r"^FROM ", dockerfile, re.M)) >= 2  # build and runtime stages
    assert "COPY docker/entrypoint.sh /usr/local/bin/imagepipe-entrypoint" in dockerfile
    assert 'ENTRYPOINT ["/usr/local/bin/imagepipe-entrypoint"]' in dockerfile
    assert re.search(r"^COPY Procfile ", dockerfile, re.M)
    users = re.findall(r"^USER (\S+)$", dockerfile, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")


def test_the_stack_runs_only_procfile_processes() -> None:
    from tests.infra.stackmock import INFRA

    names: set[str] = set()
    for path in (INFRA / "imagepipe_infra").glob("*.py"):
        names |= set(re.findall(r'process="(\w+)"', path.read_text()))
    assert names == set(procfile())


def _docker_engine() -> str | None:
    """Why the image cannot be built here, or None when a Docker engine answers."""
    if shutil.which("docker") is None:
        return "no docker command"
    info = subprocess.run(
        ["docker", "info"], capture_output=True, text=True, timeout=60, check=False
    )
    return None if info.returncode == 0 else "the docker command answers but no engine runs"


def test_the_image_builds_and_serves_health() -> None:
    why = _docker_engine()
    if why is not None:
        pytest.skip(f"needs a Docker engine: {why} (`docker info` failed)")
    subprocess.run(["docker", "build", "-t", IMAGE, str(ROOT)], check=True, timeout=1800)
    container = subprocess.run(
        ["docker", "run", "-d", "--rm", "-p", "127.0.0.1::8000", IMAGE, "web"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.strip()
    try:
        port = (
            subprocess.run(
                ["docker", "port", container, "8000"], capture_output=True, text=True, check=True
            )
            .stdout.split(":")[-1]
            .strip()
        )
        user = subprocess.run(
            ["docker", "exec", container, "id", "-u"], capture_output=True, text=True, check=True
        ).stdout.strip()
        assert user == "10001"

        def healthy() -> bool | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    return True if r.status == 200 else None
            except OSError:
                return None

        wait_for(healthy, timeout=120, what="the container's /health")
    finally:
        subprocess.run(["docker", "stop", container], capture_output=True, check=False, timeout=60)
