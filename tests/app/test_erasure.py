"""Erasure, proven by scanning the stores afterwards: embedded, and S3 + DynamoDB + CloudFront."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from app.audit import JsonLinesAuditLog, subject_digest
from app.catalog import ImageCatalog
from app.catalog.dynamodb import DynamoDBCatalog
from app.catalog.sqlite import SQLiteCatalog
from app.erasure import erase_image, erase_user
from app.invalidation import CloudFrontInvalidator, NoCdn
from app.services import Services
from tests.app.erasure_fixtures import keys_of, stored_image
from tests.conftest import SECRET, make_settings, moto_blob_store, moto_catalog


@pytest.fixture(params=["embedded", "moto"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Services:
    settings = make_settings(tmp_path)
    if request.param == "embedded":
        from app.catalog import open_catalog
        from app.storage import open_blob_store

        # The bare adapters (no retry layer), so the proof below can read around them.
        return Services(
            settings=settings,
            originals=open_blob_store(settings.originals_url),
            variants=open_blob_store(settings.variants_url),
            catalog=open_catalog(settings.catalog_url),
        )
    return Services(
        settings=settings,
        originals=moto_blob_store("originals", "o"),
        variants=moto_blob_store("variants", ""),
        catalog=moto_catalog("images"),
    )


def _all_records(catalog: ImageCatalog, user_id: str) -> list[str]:
    return [r.image_id for r in catalog.list_by_user(user_id, limit=1000).items]


def _raw_rows_naming(catalog: ImageCatalog, user_id: str) -> list[str]:
    """Every stored row, read around the adapter (a table scan), that mentions the user."""
    if isinstance(catalog, SQLiteCatalog):
        with sqlite3.connect(catalog.path) as db:
            rows = [" ".join(map(str, row)) for row in db.execute("SELECT * FROM images")]
    else:
        assert isinstance(catalog, DynamoDBCatalog)
        pages = catalog.client.get_paginator("scan").paginate(TableName=catalog.table)
        rows = [json.dumps(item) for page in pages for item in page["Items"]]
    return [row for row in rows if user_id in row]


def test_erasing_a_user_leaves_nothing_of_theirs(stores: Services) -> None:
    alice = {stored_image(stores, f"a{n:03d}", "alice", t=n) for n in range(120)}  # > one page
    bob = {stored_image(stores, "b001", "bob")}
    receipt = erase_user(stores, "alice", NoCdn())
    # The proof: scan every store for anything of alice's.
    assert keys_of(stores, alice) == []
    assert _all_records(stores.catalog, "alice") == []
    assert _raw_rows_naming(stores.catalog, "alice") == []
    assert _raw_rows_naming(stores.catalog, "bob") != []  # the scan does see records
    for image_id in alice:
        with pytest.raises(KeyError):
            stores.catalog.get(image_id)
    # bob keeps everything.
    assert len(keys_of(stores, bob)) == 5
    assert _all_records(stores.catalog, "bob") == ["b001"]
    assert receipt.counts == {
        "images": 120,
        "originals": 120,
        "variants": 360,
        "work": 120,
        "records": 120,
    }
    assert len(receipt.keys_deleted) == 600


def test_erasing_twice_is_harmless(stores: Services) -> None:
    stored_image(stores, "a1", "alice")
    erase_user(stores, "alice", NoCdn())
    again = erase_user(stores, "alice", NoCdn())
    assert again.counts["images"] == 0 and again.keys_deleted == []


def test_an_interrupted_erasure_resumes(stores: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    alice = {stored_image(stores, f"a{n}", "alice", t=n) for n in range(5)}
    deletes = {"left": 2}
    real_delete = stores.catalog.delete

    def failing_delete(image_id: str) -> bool:
        if deletes["left"] == 0:
            raise ConnectionError("the catalog went away")
        deletes["left"] -= 1
        return real_delete(image_id)

    monkeypatch.setattr(stores.catalog, "delete", failing_delete)
    with pytest.raises(ConnectionError):
        erase_user(stores, "alice", NoCdn())
    assert len(_all_records(stores.catalog, "alice")) == 3  # two done, three left
    monkeypatch.setattr(stores.catalog, "delete", real_delete)
    erase_user(stores, "alice", NoCdn())
    assert keys_of(stores, alice) == [] and _all_records(stores.catalog, "alice") == []


def test_erasing_one_image_keeps_the_others(stores: Services) -> None:
    stored_image(stores, "a1", "alice")
    stored_image(stores, "a2", "alice")
    receipt = erase_image(stores, stores.catalog.get("a1"), NoCdn())
    assert keys_of(stores, {"a1"}) == []
    assert len(keys_of(stores, {"a2"})) == 5
    assert receipt.counts == {"images": 1, "originals": 1, "variants": 3, "work": 1, "records": 1}
    assert receipt.invalidation_ids == []


def _distribution(client: Any) -> str:
    config = {
        "CallerReference": "test",
        "Comment": "",
        "Enabled": True,
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "origin",
                    "DomainName": "variants.s3.amazonaws.com",
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "origin",
            "ViewerProtocolPolicy": "redirect-to-https",
            "MinTTL": 0,
            "ForwardedValues": {"QueryString": True, "Cookies": {"Forward": "none"}},
            "TrustedSigners": {"Enabled": False, "Quantity": 0},
        },
    }
    return str(client.create_distribution(DistributionConfig=config)["Distribution"]["Id"])


def test_on_aws_the_image_paths_are_invalidated(tmp_path: Path) -> None:
    import boto3

    services = Services(
        settings=make_settings(tmp_path),
        originals=moto_blob_store("originals", "o"),
        variants=moto_blob_store("variants", ""),
        catalog=moto_catalog("images"),
    )
    client = boto3.client("cloudfront", region_name="us-east-1")
    distribution = _distribution(client)
    stored_image(services, "a1", "alice")
    receipt = erase_image(
        services, services.catalog.get("a1"), CloudFrontInvalidator(client, distribution)
    )
    assert len(receipt.invalidation_ids) == 1
    batch = client.get_invalidation(DistributionId=distribution, Id=receipt.invalidation_ids[0])
    paths = batch["Invalidation"]["InvalidationBatch"]["Paths"]["Items"]
    assert set(paths) == {"/i/a1", "/i/a1/160-lq.webp", "/i/a1/640.webp", "/i/a1/640.jpg"}


def test_the_audit_log_appends_and_hashes_the_user(tmp_path: Path) -> None:
    log = JsonLinesAuditLog(tmp_path / "audit" / "erasures.jsonl", SECRET)
    log.append({"scope": "user", "subject": "alice", "counts": {"images": 2}})
    log.append({"scope": "image", "subject": "a1", "counts": {"images": 1}})
    lines = [
        json.loads(x) for x in (tmp_path / "audit" / "erasures.jsonl").read_text().splitlines()
    ]
    assert lines[0]["subject"] == "hmac-sha256:" + subject_digest(SECRET, "alice")
    assert "alice" not in json.dumps(lines)
    assert lines[1]["subject"] == "a1"
    assert (tmp_path / "audit" / "erasures.jsonl").stat().st_mode & 0o077 == 0
