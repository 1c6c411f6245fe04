"""The catalog table, exactly as DynamoDBCatalog reads it (app/names.py holds the shape)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from imagepipe_infra.shared import names


@dataclass(frozen=True)
class CatalogArgs:
    table: str
    replica_region: str | None = None  # a global table across two regions (99.99% target)
    deletion_protection: bool = True


class Catalog(pulumi.ComponentResource):
    table: aws.dynamodb.Table

    def __init__(
        self, name: str, args: CatalogArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("imagepipe:catalog:Catalog", name, None, opts)
        self.table = aws.dynamodb.Table(
            name,
            name=args.table,
            billing_mode="PAY_PER_REQUEST",
            hash_key=names.TABLE_KEY,
            attributes=[
                {"name": attribute, "type": kind}
                for attribute, kind in names.ATTRIBUTE_TYPES.items()
            ],
            global_secondary_indexes=[
                _index(index, partition, sort) for index, (partition, sort) in names.INDEXES.items()
            ],
            point_in_time_recovery={"enabled": True},
            server_side_encryption={"enabled": True},
            deletion_protection_enabled=args.deletion_protection,
            # Global tables replicate through the stream.
            stream_enabled=bool(args.replica_region),
            stream_view_type="NEW_AND_OLD_IMAGES" if args.replica_region else None,
            replicas=(
                [{"region_name": args.replica_region, "point_in_time_recovery": True}]
                if args.replica_region
                else None
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"table": self.table.name, "arn": self.table.arn})


def _index(name: str, partition: str, sort: str) -> aws.dynamodb.TableGlobalSecondaryIndexArgsDict:
    # Keys and the few attributes a query reads, not ALL: each write is copied to the index
    # at the size of what it projects (app/names.py INDEX_ATTRIBUTES).
    kind, attributes = names.index_projection(name)
    index: aws.dynamodb.TableGlobalSecondaryIndexArgsDict = {
        "name": name,
        "hash_key": partition,
        "range_key": sort,
        "projection_type": kind,
    }
    if attributes:
        index["non_key_attributes"] = list(attributes)
    return index
