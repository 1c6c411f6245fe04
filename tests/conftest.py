"""Fixtures, declared once for the whole suite."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from app.api import create_app
from app.auth.tokens import LocalIssuer
from app.aws import AwsLocation
from app.catalog import ImageCatalog
from app.services import Services, build_services
from app.settings import Settings, current
from app.storage import BlobStore

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CORPUS = ROOT.parent / "shared" / "corpus"
SECRET = "test-secret-key-0123456789"


def corpus_rows(kind: str) -> list[dict[str, str]]:
    """MANIFEST rows of ../shared/corpus/<kind>, or [] where the corpus is absent."""
    manifest = CORPUS / kind / "MANIFEST.tsv"
    if not manifest.exists():
        return []
    with manifest.open(newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def photo(name: str) -> Path:
    """A real photo: from the shared corpus when present, else the committed fixture copy."""
    for folder in (CORPUS / "photos", FIXTURES):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(name)


def make_settings(tmp: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "originals_url": (tmp / "originals").as_uri(),
        "variants_url": (tmp / "variants").as_uri(),
        "catalog_url": f"sqlite:///{tmp / 'catalog.db'}",
        "broker_url": "memory://",
        "public_base_url": "http://testserver",
        "secret_key": SECRET,
        "data_dir": str(tmp),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class RecordingJobs:
    """Stands in for the broker in API unit tests: records what the API asked for."""

    created: list[str] = field(default_factory=list)
    queued: int = 0  # what backlog() reports

    def object_created(self, key: str) -> None:
        self.created.append(key)

    def ping(self) -> None:
        return None

    def backlog(self) -> int:
        return self.queued


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def services(settings: Settings) -> Services:
    return build_services(settings)


@pytest.fixture
def jobs() -> RecordingJobs:
    return RecordingJobs()


@pytest.fixture
def app(settings: Settings, services: Services, jobs: RecordingJobs) -> Flask:
    flask_app = create_app(settings, services=services, jobs=jobs)
    flask_app.testing = True
    return flask_app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def auth(settings: Settings) -> Callable[[str], dict[str, str]]:
    tokens = LocalIssuer.from_settings(settings)

    def headers(user_id: str = "alice", *, admin: bool = False) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens.issue(user_id, admin=admin)}"}

    return headers


def jpeg_bytes(img: Image.Image, **params: object) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", **params)
    return out.getvalue()


@pytest.fixture
def gps_jpeg(tmp_path: Path) -> Path:
    """A real photo carrying GPS EXIF, made here from a committed fixture."""
    with Image.open(photo("mate_Storm.jpg")) as img:
        exif = Image.Exif()
        exif[0x010F] = "TestCam"
        gps = exif.get_ifd(0x8825)
        gps[1] = "N"
        gps[2] = (48.0, 51.0, 29.0)
        gps[3] = "E"
        gps[4] = (2.0, 17.0, 40.0)
        path = tmp_path / "gps.jpg"
        path.write_bytes(jpeg_bytes(img.convert("RGB"), exif=exif.tobytes(), quality=90))
    return path


# --- AWS, in process (moto.mock_aws). The end-to-end tests use moto's HTTP server instead. ---

_IN_PROCESS_AWS: list[Any] = []


def in_process_aws() -> AwsLocation:
    """Start moto's in-process AWS until the current test ends (the fixture below stops it)."""
    from moto import mock_aws

    mock = mock_aws()
    mock.start()
    _IN_PROCESS_AWS.append(mock)
    return AwsLocation(region="us-east-1")


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """app.settings.current() re-reads the environment in each test (tests change it)."""
    current.cache_clear()
    yield
    current.cache_clear()


@pytest.fixture(autouse=True)
def _stop_in_process_aws() -> Iterator[None]:
    yield
    while _IN_PROCESS_AWS:
        _IN_PROCESS_AWS.pop().stop()


@pytest.fixture
def aws() -> AwsLocation:
    """A fresh, empty moto AWS for this test."""
    return in_process_aws()


def moto_blob_store(bucket: str = "imagepipe-test", prefix: str = "some/prefix") -> BlobStore:
    """An S3BlobStore on a new moto bucket (for the BlobStore contract suite)."""
    from app.aws import s3_client
    from app.storage.s3 import S3BlobStore

    client = s3_client(in_process_aws())
    client.create_bucket(Bucket=bucket)
    return S3BlobStore(client, bucket, prefix)


def moto_catalog(table: str = "images") -> ImageCatalog:
    """A DynamoDBCatalog on a moto table made by app/ops/provision.py (for the contract suite)."""
    from app.aws import dynamodb_client
    from app.catalog.dynamodb import DynamoDBCatalog
    from app.ops.provision import ensure_table

    client = dynamodb_client(in_process_aws())
    _atomic_moto_writes()
    ensure_table(client, table)
    return DynamoDBCatalog(client, table)


def _atomic_moto_writes() -> None:
    """Atomic conditional writes in moto until the current test ends (see atomic_moto_writes)."""
    patch = atomic_moto_writes()
    patch.__enter__()
    _IN_PROCESS_AWS.append(_Stopper(patch))


@dataclass
class _Stopper:
    context: Any

    def stop(self) -> None:
        self.context.__exit__(None, None, None)


@contextmanager
def atomic_moto_writes() -> Iterator[None]:
    """Make moto's conditional writes atomic, as DynamoDB's are, in this process.

    moto evaluates a ConditionExpression and then writes, unlocked: two threads can both pass
    `version = :expected` and one update is lost (seen in the contract suite's concurrency
    test). One lock around each write restores the service's guarantee; an adapter that wrote
    without a condition would still lose updates, so the tests keep their teeth. It covers moto's
    in-process mock and a ThreadedMotoServer running in this process alike.
    """
    from unittest import mock

    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.Lock()
    with ExitStack() as stack:
        for name in ("put_item", "update_item", "delete_item"):
            original = getattr(DynamoDBBackend, name)

            def locked(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                with lock:
                    return _original(*args, **kwargs)

            stack.enter_context(mock.patch.object(DynamoDBBackend, name, locked))
        yield


def variant_bytes(services: Services, image_id: str, name: str) -> bytes:
    """The stored bytes of an image's recorded variant, alone or in its pack (app/packs.py)."""
    from app import packs

    recorded = services.catalog.get(image_id).variant(name)
    assert recorded is not None, name
    return packs.read(services.variants, recorded)
