"""The table Pulumi builds is the one DynamoDBCatalog reads and `imagepipe provision` makes."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from app.aws import dynamodb_client
from app.ops.provision import ensure_table
from tests.conftest import in_process_aws
from tests.infra.stackmock import Stack, run


def _pulumi_shape(stack: Stack) -> dict[str, Any]:
    (table,) = stack.of("aws:dynamodb/table:Table")
    inputs = table.inputs
    return {
        "key": inputs["hashKey"],
        "attributes": {a["name"]: a["type"] for a in inputs["attributes"]},
        "indexes": {
            i["name"]: (
                i["hashKey"],
                i["rangeKey"],
                i["projectionType"],
                sorted(i.get("nonKeyAttributes", [])),
            )
            for i in inputs["globalSecondaryIndexes"]
        },
    }


def test_key_schema_and_indexes_equal_what_provision_makes_for_the_adapter(stack: Stack) -> None:
    client = dynamodb_client(in_process_aws())
    ensure_table(client, "images")
    made = client.describe_table(TableName="images")["Table"]
    (key,) = made["KeySchema"]
    indexes = {
        i["IndexName"]: (
            next(k["AttributeName"] for k in i["KeySchema"] if k["KeyType"] == "HASH"),
            next(k["AttributeName"] for k in i["KeySchema"] if k["KeyType"] == "RANGE"),
            i["Projection"]["ProjectionType"],
            sorted(i["Projection"].get("NonKeyAttributes", [])),
        )
        for i in made["GlobalSecondaryIndexes"]
    }
    assert _pulumi_shape(stack) == {
        "key": key["AttributeName"],
        "attributes": {
            a["AttributeName"]: a["AttributeType"] for a in made["AttributeDefinitions"]
        },
        "indexes": indexes,
    }


def test_the_indexes_copy_keys_and_listing_fields_not_every_attribute(stack: Stack) -> None:
    # A write is copied to each index at the size of what it projects: with ALL, every variant
    # list was written three times (docs/capacity.md). The quota and count_open read status and
    # size from by_user; the reconciler's sparse index needs only its keys.
    indexes = _pulumi_shape(stack)["indexes"]
    assert indexes["by_user"][2:] == ("INCLUDE", ["size", "status"])
    assert indexes["by_open_status"][2:] == ("KEYS_ONLY", [])


def test_provision_warns_about_an_index_made_with_another_projection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = dynamodb_client(in_process_aws())
    client.create_table(
        TableName="old-images",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "image_id", "AttributeType": "S"},
            {"AttributeName": "user_id", "AttributeType": "S"},
            {"AttributeName": "upload_time", "AttributeType": "N"},
        ],
        KeySchema=[{"AttributeName": "image_id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_user",
                "KeySchema": [
                    {"AttributeName": "user_id", "KeyType": "HASH"},
                    {"AttributeName": "upload_time", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    with caplog.at_level(logging.WARNING, logger="app.ops.provision"):
        ensure_table(client, "old-images")
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "by_user" in warning and "INCLUDE" in warning


def test_the_table_is_on_demand_recoverable_encrypted_and_protected(stack: Stack) -> None:
    (table,) = stack.of("aws:dynamodb/table:Table")
    assert table.inputs["billingMode"] == "PAY_PER_REQUEST"
    assert table.inputs["pointInTimeRecovery"] == {"enabled": True}
    assert table.inputs["serverSideEncryption"] == {"enabled": True}
    assert table.inputs["deletionProtectionEnabled"] is True
    assert "replicas" not in table.inputs


def test_a_replica_region_makes_a_global_table() -> None:
    replicated = run({"imagepipe:replicaRegion": "eu-central-1"})
    (table,) = replicated.of("aws:dynamodb/table:Table")
    assert table.inputs["replicas"] == [{"regionName": "eu-central-1", "pointInTimeRecovery": True}]
    assert table.inputs["streamEnabled"] is True
