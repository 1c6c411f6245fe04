"""The table Pulumi builds is the one DynamoDBCatalog reads and `imagepipe provision` makes."""

from __future__ import annotations

from typing import Any

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
            i["name"]: (i["hashKey"], i["rangeKey"], i["projectionType"])
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
