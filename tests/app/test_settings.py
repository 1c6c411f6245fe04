from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import pytest

from app.imaging.errors import ImageRejected, Reason
from app.imaging.probe import probe
from app.services import limits_from
from app.settings import Secret, Settings, SettingsError, current, file_url_path, variables
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
    first = Settings.from_env(env).secret_key.reveal()
    assert len(first) >= 32
    assert Settings.from_env(env).secret_key.reveal() == first
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
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    example = (root / ".env.example").read_text()
    missing = [
        (var, where)
        for var in variables()
        for where, text in (("README.md", readme), (".env.example", example))
        if var not in text
    ]
    assert not missing


def test_reading_the_settings_writes_nothing(tmp_path: Path) -> None:
    # celeryconfig reads them at import (Flower, `celery inspect`): no secret file appears then.
    settings = Settings.from_env({"IMAGEPIPE_DATA_DIR": str(tmp_path / "var")})
    assert not (tmp_path / "var").exists()
    key = settings.secret_key.reveal()  # made on first use
    assert (tmp_path / "var" / "secret_key").read_text().strip() == key


SECRETS = {
    "IMAGEPIPE_SECRET_KEY": "s3cr3t-key-value-0123456789",
    "FLOWER_BASIC_AUTH": "ops:flower-password-42",
}


def test_secrets_are_masked_wherever_settings_are_shown(tmp_path: Path) -> None:
    settings = Settings.from_env({"IMAGEPIPE_DATA_DIR": str(tmp_path)} | SECRETS)
    shown = [repr(settings), str(settings), f"{settings}", f"{settings.secret_key}"]
    shown += [repr(settings.flower_basic_auth), "%s" % settings.flower_basic_auth]  # noqa: UP031
    for text in shown:
        for value in SECRETS.values():
            assert value not in text
    assert Secret.MASK in repr(settings)
    assert settings.secret_key.reveal() == SECRETS["IMAGEPIPE_SECRET_KEY"]
    assert settings.flower_basic_auth.reveal() == SECRETS["FLOWER_BASIC_AUTH"]


def test_check_config_masks_every_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    monkeypatch.setenv("IMAGEPIPE_DATA_DIR", str(tmp_path))
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "secret_key = " in out and "flower_basic_auth = " in out
    assert not [value for value in SECRETS.values() if value in out]


def test_a_bad_secret_is_named_but_not_shown(tmp_path: Path) -> None:
    bad = "ops:short"  # a password under 12 characters
    with pytest.raises(SettingsError, match="FLOWER_BASIC_AUTH") as refused:
        Settings.from_env({"IMAGEPIPE_DATA_DIR": str(tmp_path), "FLOWER_BASIC_AUTH": bad})
    assert "short" not in str(refused.value)


def test_current_reads_the_environment_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEPIPE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("IMAGEPIPE_PORT", "8123")
    first = current()
    monkeypatch.setenv("IMAGEPIPE_PORT", "8124")
    assert current() is first and first.port == 8123
    current.cache_clear()
    assert current().port == 8124


def test_decode_limits_are_declared_once(tmp_path: Path) -> None:
    # The settings' defaults are app/imaging/limits.py's: one number each, not two that drift.
    from app.imaging.limits import Limits

    assert limits_from(Settings.from_env({"IMAGEPIPE_DATA_DIR": str(tmp_path)})) == Limits()


def test_every_setting_has_its_own_variable() -> None:
    names = variables()
    assert len(names) == len(set(names))
    assert all(name.isupper() for name in names)


def test_only_the_accessor_reads_the_environment() -> None:
    # Every process reads its settings through app.settings.current(), once.
    root = Path(__file__).resolve().parents[2]
    sources = [root / "celeryconfig.py", *root.glob("app/**/*.py"), *root.glob("tasks/**/*.py")]
    readers = [
        str(path.relative_to(root))
        for path in sources
        if "Settings.from_env(" in path.read_text() and path.name != "settings.py"
    ]
    assert readers == []


def test_the_eager_default_follows_avif_and_a_value_given_is_kept() -> None:
    made = {
        (avif, given): Settings.from_env(
            {"IMAGEPIPE_AVIF": avif, "IMAGEPIPE_EAGER_VARIANTS": given}
        ).eager_variants.names
        for avif in ("true", "false")
        for given in ("", "all,-jpg,-webp")
    }
    # With AVIF, browsers are served AVIF: no WebP named (the first paint is made whatever).
    assert {n for n in made["true", ""] if n.endswith(".webp")} == set()
    assert {n for n in made["true", ""] if n.endswith(".avif")} == {
        n for n in made["false", ""] if n.endswith(".avif")
    }
    # Without, WebP is what most are served: every WebP but the weak tier's.
    assert {n for n in made["false", ""] if n.endswith(".webp")} == {
        "160-lq.webp",
        "320.webp",
        "640.webp",
        "1280.webp",
        "1920.webp",
    }
    assert made["false", "all,-jpg,-webp"] == made["true", ""]  # given, it is what is made
    # Settings changed or copied later still follow AVIF while the value is a default.
    default = Settings.from_env({})
    assert replace(default, avif=False).eager_variants.names == made["false", ""]
    again = replace(copy.deepcopy(replace(default, avif=False)), avif=True)
    assert again.eager_variants.names == made["true", ""]
