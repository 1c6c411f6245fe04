from __future__ import annotations

from pathlib import Path

import pytest

from app.imaging.errors import ImageRejected, Reason
from app.imaging.probe import probe
from app.services import limits_from
from app.settings import Settings, SettingsError, file_url_path
from tests.conftest import photo


def test_defaults_are_the_embedded_mode(tmp_path: Path) -> None:
    settings = Settings.from_env({"IMAGEPIPE_DATA_DIR": str(tmp_path)})
    assert settings.originals_url == "file://./var/originals"
    assert settings.variants_url == "file://./var/variants"
    assert settings.catalog_url == "sqlite:///./var/catalog.db"
    assert settings.broker_url == "filesystem://"
    assert settings.public_base_url == "http://127.0.0.1:8000"
    assert settings.max_upload_bytes == 50_000_000
    assert settings.embedded


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    env = {"IMAGEPIPE_DATA_DIR": str(tmp_path)}
    first = Settings.from_env(env).secret_key
    assert len(first) >= 32
    assert Settings.from_env(env).secret_key == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_aws_mode_requires_a_secret_key(tmp_path: Path) -> None:
    env = {"IMAGEPIPE_DATA_DIR": str(tmp_path), "IMAGEPIPE_CATALOG_URL": "dynamodb://images"}
    with pytest.raises(SettingsError, match="IMAGEPIPE_SECRET_KEY"):
        Settings.from_env(env)
    assert not Settings.from_env(env | {"IMAGEPIPE_SECRET_KEY": "k" * 40}).embedded


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("IMAGEPIPE_ORIGINALS_URL", "ftp://x/y"),
        ("IMAGEPIPE_VARIANTS_URL", "s3://"),
        ("IMAGEPIPE_CATALOG_URL", "postgres://db"),
        ("CELERY_BROKER_URL", "redis://localhost"),
        ("IMAGEPIPE_PORT", "eighty"),
        ("IMAGEPIPE_PORT", "70000"),
        ("FLOWER_PORT", "0"),
        ("IMAGEPIPE_MAX_UPLOAD_BYTES", "-5"),
        ("IMAGEPIPE_PUBLIC_BASE_URL", "images.example.com"),
        ("IMAGEPIPE_AVIF", "maybe"),
        ("IMAGEPIPE_JPEG_BACKGROUND", "white"),
        ("IMAGEPIPE_MAX_JPEG_SCANS", "0"),
        ("IMAGEPIPE_DECODE_MEMORY_MB", "lots"),
        ("IMAGEPIPE_DECODE_SECONDS", "120"),  # not below the task time limit (120)
    ],
)
def test_a_bad_value_names_its_variable(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({"IMAGEPIPE_DATA_DIR": str(tmp_path), variable: value})


def test_every_decode_limit_comes_from_the_environment(tmp_path: Path) -> None:
    env = {
        "IMAGEPIPE_DATA_DIR": str(tmp_path),
        "IMAGEPIPE_MAX_FRAMES": "7",
        "IMAGEPIPE_MAX_JPEG_SCANS": "5",
        "IMAGEPIPE_MAX_METADATA_BYTES": "4096",
        "IMAGEPIPE_MAX_EXIF_BYTES": "2048",
        "IMAGEPIPE_DECODE_SECONDS": "9",
        "IMAGEPIPE_DECODE_MEMORY_MB": "256",
    }
    limits = limits_from(Settings.from_env(env))
    assert (limits.max_frames, limits.max_scans) == (7, 5)
    assert (limits.max_metadata_bytes, limits.max_exif_bytes) == (4096, 2048)
    assert (limits.decode_seconds, limits.decode_memory_bytes) == (9.0, 256 * 1024 * 1024)
    # And they bite: a progressive JPEG (about 10 scans) is refused under a 5-scan limit.
    progressive = photo("lomiri16_Dragonfly_by_Bolly.jpg")
    with pytest.raises(ImageRejected) as refused:
        probe(progressive, limits)
    assert refused.value.reason is Reason.TOO_MANY_SCANS
    assert probe(progressive, limits_from(Settings.from_env({"IMAGEPIPE_DATA_DIR": str(tmp_path)})))


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = Settings.from_env({"IMAGEPIPE_DATA_DIR": str(tmp_path)})
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("file://./var/originals", "var/originals"),
        ("file:///srv/images", "/srv/images"),
        ("sqlite:///./var/catalog.db", "var/catalog.db"),
        ("sqlite:////abs/catalog.db", "/abs/catalog.db"),
    ],
)
def test_file_urls_name_local_paths(url: str, path: str) -> None:
    assert file_url_path(url) == Path(path)


def test_readme_and_env_example_name_every_variable() -> None:
    from app.settings import _TABLE

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    example = (root / ".env.example").read_text()
    missing = [
        (var, where)
        for var, *_ in _TABLE
        for where, text in (("README.md", readme), (".env.example", example))
        if var not in text
    ]
    assert not missing
