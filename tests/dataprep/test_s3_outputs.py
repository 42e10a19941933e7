"""Assembling UNLOAD parts into one Personalize CSV (moto S3, which enforces multipart part sizes)."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from dataprep.queries import GENRE_MAPPING_CSV
from dataprep.s3_outputs import MIN_PART, assemble_csv, publish_genre_mapping

HEADER = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE"


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="results")
        yield client


def _lines(tag: str, size: int) -> bytes:
    """About `size` bytes of newline-terminated CSV records."""
    record = f"{tag},item,1751241600,view,1\n".encode()
    return record * max(1, size // len(record))


def _assembled(s3, key="athena/prepared/interactions.csv") -> bytes:
    return s3.get_object(Bucket="results", Key=key)["Body"].read()


@pytest.mark.parametrize(
    "sizes",
    [
        [100, 0, 200],  # small output: single put
        [6 * 1024 * 1024, 1000, 12 * 1024 * 1024],  # top-up, small middle part, server-side copy
        [3 * 1024 * 1024, 3 * 1024 * 1024, 3 * 1024 * 1024],  # only small parts, buffered to valid sizes
        [MIN_PART + 10, MIN_PART - 10],
    ],
)
def test_header_then_every_part_in_key_order(s3, sizes):
    bodies = []
    for index, size in enumerate(sizes):
        body = _lines(f"u{index}", size) if size else b""
        bodies.append(body)
        s3.put_object(Bucket="results", Key=f"athena/run/interactions/part-{index:05d}", Body=body)
    result = assemble_csv(
        s3, "s3://results/athena/run/interactions/", HEADER, "s3://results/athena/prepared/interactions.csv"
    )
    expected = HEADER.encode() + b"\n" + b"".join(bodies)
    data = _assembled(s3)
    assert data == expected
    assert result == {"parts": sum(1 for b in bodies if b), "bytes": len(expected)}
    assert s3.list_multipart_uploads(Bucket="results").get("Uploads", []) == []


def test_no_parts_gives_a_header_only_file(s3):
    assemble_csv(
        s3, "s3://results/athena/run/users/", "USER_ID,LOCALE", "s3://results/athena/prepared/users.csv"
    )
    assert _assembled(s3, "athena/prepared/users.csv") == b"USER_ID,LOCALE\n"


def test_target_inside_parts_prefix_is_refused(s3):
    with pytest.raises(ValueError, match="parts prefix"):
        assemble_csv(s3, "s3://results/athena/run/", HEADER, "s3://results/athena/run/interactions.csv")


def test_failed_assembly_aborts_the_upload(s3, monkeypatch):
    s3.put_object(Bucket="results", Key="athena/run/p/part-0", Body=_lines("u", 11 * 1024 * 1024))

    def broken(**_):
        raise RuntimeError("copy failed")

    monkeypatch.setattr(s3, "upload_part_copy", broken)
    with pytest.raises(RuntimeError, match="copy failed"):
        assemble_csv(s3, "s3://results/athena/run/p/", HEADER, "s3://results/athena/prepared/x.csv")
    assert s3.list_multipart_uploads(Bucket="results").get("Uploads", []) == []


def test_publish_genre_mapping_puts_the_packaged_file(s3):
    publish_genre_mapping(s3, "results", "reference/genre_mapping/genre_mapping.csv")
    body = _assembled(s3, "reference/genre_mapping/genre_mapping.csv")
    assert body == GENRE_MAPPING_CSV.read_bytes() and body.startswith(b"source_genre,genre\n")
