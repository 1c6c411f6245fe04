"""The admin commands run in this process, on embedded backends in a test's folder."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from app import cli
from app.admin import commands
from app.aws import process_location
from app.services import Services, build_services
from app.settings import Settings
from tests.conftest import SECRET


@dataclass
class Jobs:
    """Stands in for the broker: records the chains the commands start."""

    started: list[tuple[str, int]] = field(default_factory=list)
    queued: int = 0

    def start(self, image_id: str, attempt: int) -> None:
        self.started.append((image_id, attempt))

    def backlog(self) -> int:
        return self.queued

    def object_created(self, key: str) -> None:
        raise AssertionError("the admin commands claim, then start: never object_created")

    def ping(self) -> None:
        return None


@dataclass
class Cli:
    tmp: Path
    jobs: Jobs
    capsys: pytest.CaptureFixture[str]

    @property
    def services(self) -> Services:
        return build_services(Settings.from_env())

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        before = dict(os.environ)
        try:
            status = cli.main(list(args))
        finally:
            # `--env FILE` loads into this process's environment: undone after each command.
            for name in set(os.environ) - set(before):
                del os.environ[name]
            os.environ.update(before)
        out, err = self.capsys.readouterr()
        return status, out, err

    def json(self, *args: str) -> Any:
        status, out, err = self(*args)
        assert status == 0, err
        return json.loads(out)


def embedded_env(monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    for name in list(os.environ):
        if name.startswith("IMAGEPIPE_"):
            monkeypatch.delenv(name)
    env = {
        "IMAGEPIPE_DATA_DIR": str(tmp),
        "IMAGEPIPE_ORIGINALS_URL": (tmp / "originals").as_uri(),
        "IMAGEPIPE_VARIANTS_URL": (tmp / "variants").as_uri(),
        "IMAGEPIPE_CATALOG_URL": f"sqlite:///{tmp / 'catalog.db'}",
        "IMAGEPIPE_PUBLIC_BASE_URL": "http://testserver",
        "IMAGEPIPE_SECRET_KEY": SECRET,
        "CELERY_BROKER_URL": "memory://",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Cli]:
    embedded_env(monkeypatch, tmp_path)
    jobs = Jobs()
    monkeypatch.setattr(commands, "jobs_for", lambda settings: jobs)
    # AWS clients take the process's location from the settings once (app/aws.py): each test
    # here has its own, in moto's memory or on a moto server of its own.
    process_location.cache_clear()
    yield Cli(tmp_path, jobs, capsys)
    process_location.cache_clear()
