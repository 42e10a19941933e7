"""One way to declare an external Glue table over files in S3 (text: CSV, lines or JSON lines; or Parquet), shared by
the raw catalogue and the report catalogue: the storage formats, the construct id scheme and the database
dependency."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Aws
from aws_cdk import aws_glue as glue
from constructs import Construct

# Each physical line as one string column: LazySimpleSerDe with field delimiter \x01, a byte neither the raw
# exports nor JSON text contain (JSON escapes control characters), so nothing splits a line and nothing parses
# it: the SQL does (quality.sql compares lines with parsed rows; the report parses batch-output JSON lines).
LINES_SERDE = glue.CfnTable.SerdeInfoProperty(
    serialization_library="org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
    parameters={"field.delim": "\u0001"},
)

_TEXT_FORMATS = (
    "org.apache.hadoop.mapred.TextInputFormat",
    "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
)
# What Athena's UNLOAD ... WITH (format = 'PARQUET') writes, read back through Hive's Parquet classes.
PARQUET_FORMATS = (
    "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
)
PARQUET_SERDE = glue.CfnTable.SerdeInfoProperty(
    serialization_library="org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
)


def text_table(
    scope: Construct,
    database: glue.CfnDatabase,
    database_name: str,
    name: str,
    *,
    columns: Sequence[tuple[str, str]],
    partitions: Sequence[str],
    location: str,
    serde: glue.CfnTable.SerdeInfoProperty,
    parameters: Mapping[str, str],
    formats: tuple[str, str] = _TEXT_FORMATS,
) -> glue.CfnTable:
    """An EXTERNAL_TABLE `name` (construct id Table<Name>) with string partition columns `partitions`."""
    input_format, output_format = formats
    table = glue.CfnTable(
        scope,
        f"Table{''.join(part.title() for part in name.split('_'))}",
        catalog_id=Aws.ACCOUNT_ID,
        database_name=database_name,
        table_input=glue.CfnTable.TableInputProperty(
            name=name,
            table_type="EXTERNAL_TABLE",
            parameters=dict(parameters),
            partition_keys=[glue.CfnTable.ColumnProperty(name=c, type="string") for c in partitions] or None,
            storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                columns=[glue.CfnTable.ColumnProperty(name=c, type=t) for c, t in columns],
                location=location,
                input_format=input_format,
                output_format=output_format,
                serde_info=serde,
            ),
        ),
    )
    table.node.add_dependency(database)
    return table


def parquet_table(
    scope: Construct,
    database: glue.CfnDatabase,
    database_name: str,
    name: str,
    *,
    columns: Sequence[tuple[str, str]],
    partitions: Sequence[str],
    location: str,
    parameters: Mapping[str, str],
) -> glue.CfnTable:
    """An EXTERNAL_TABLE `name` over Parquet files (Athena UNLOAD output), declared like `text_table`."""
    return text_table(
        scope,
        database,
        database_name,
        name,
        columns=columns,
        partitions=partitions,
        location=location,
        serde=PARQUET_SERDE,
        parameters={"classification": "parquet", **parameters},
        formats=PARQUET_FORMATS,
    )
