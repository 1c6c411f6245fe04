"""var/ holds personal data: nothing in it is readable by another local account."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.services import build_services
from app.settings import Settings


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The common default: without explicit modes, files would be 0644 and folders 0755."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("permissive_umask")
def test_embedded_data_is_private_from_creation(tmp_path: Path) -> None:
    var = tmp_path / "var"
    settings = Settings.from_env(
        {
            "IMAGEPIPE_DATA_DIR": str(var),
            "IMAGEPIPE_ORIGINALS_URL": (var / "originals").as_uri(),
            "IMAGEPIPE_VARIANTS_URL": (var / "variants").as_uri(),
            "IMAGEPIPE_CATALOG_URL": f"sqlite:///{var / 'catalog.db'}",
            "CELERY_BROKER_URL": "memory://",
        }
    )
    services = build_services(settings)
    services.originals.put("img1", b"personal", content_type="image/jpeg")
    services.variants.put("img1/640.webp", b"variant", content_type="image/webp")
    services.catalog.add(services.new_record("img1", "alice", "image/jpeg", "a.jpg"))
    assert _mode(var) == 0o700
    for folder in (var / "originals", var / "variants", var / "variants" / "img1"):
        assert _mode(folder) == 0o700, folder
    for file in var.rglob("*"):
        if file.is_file():
            assert _mode(file) & 0o077 == 0, f"{file} is {oct(_mode(file))}"
    assert _mode(var / "secret_key") == 0o600
    assert _mode(var / "catalog.db") == 0o600
    assert _mode(var / "originals" / "img1") == 0o600
