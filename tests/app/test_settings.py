from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import Settings, SettingsError, file_url_path


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
    ],
)
def test_a_bad_value_names_its_variable(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({"IMAGEPIPE_DATA_DIR": str(tmp_path), variable: value})


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
