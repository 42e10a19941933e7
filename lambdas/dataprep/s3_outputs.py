"""S3 side of the Athena preparation: publish the genre mapping, assemble UNLOAD parts into one CSV.

Athena UNLOAD writes header-less part files in parallel; Personalize wants CSV files whose first row is an
unquoted header. `assemble_csv` builds `<header>\\n<part 1><part 2>...` as ONE object with a multipart
upload: large parts are copied server side (UploadPartCopy), so a multi-GB dataset never passes through
the Lambda; only small parts and the first bytes after the header are read into memory.
"""

from __future__ import annotations

import re
from typing import Any

from dataprep.queries import GENRE_MAPPING_CSV

MIN_PART = 5 * 1024 * 1024  # S3 minimum size of every part but the last
MAX_COPY_PART = 5 * 1024**3  # S3 maximum size of one UploadPartCopy range
_S3_URI = re.compile(r"^s3://([^/]+)/(.*)$")


def split_uri(uri: str) -> tuple[str, str]:
    match = _S3_URI.match(uri)
    if not match:
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    return match.group(1), match.group(2)


def publish_genre_mapping(s3: Any, bucket: str, key: str) -> None:
    """Put the packaged mapping where the genre_mapping table reads it (same bytes every time: idempotent)."""
    s3.put_object(Bucket=bucket, Key=key, Body=GENRE_MAPPING_CSV.read_bytes(), ContentType="text/csv")


def _parts(s3: Any, bucket: str, prefix: str) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found.extend((o["Key"], o["Size"]) for o in page.get("Contents", []) if o["Size"] > 0)
    return sorted(found)


# One multipart upload whose state (buffer, part numbers) the copy and buffered paths share; split, it would
# pass that state around. tests/dataprep cover each path.
def assemble_csv(s3: Any, parts_uri: str, header: str, target_uri: str) -> dict[str, int]:  # noqa: C901
    """Concatenate header + every non-empty object under parts_uri into target_uri; returns sizes."""
    parts_bucket, parts_prefix = split_uri(parts_uri)
    bucket, key = split_uri(target_uri)
    if key.startswith(parts_prefix) and parts_bucket == bucket:
        raise ValueError("the assembled file must not live under the parts prefix (a rerun would include it)")
    sources = _parts(s3, parts_bucket, parts_prefix)
    head = header.rstrip("\n").encode("utf-8") + b"\n"
    total = sum(size for _, size in sources)
    if total + len(head) < MIN_PART:
        # Small output: one PutObject is simpler than a multipart upload.
        body = head + b"".join(s3.get_object(Bucket=parts_bucket, Key=k)["Body"].read() for k, _ in sources)
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv")
        return {"parts": len(sources), "bytes": len(body)}

    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="text/csv")
    upload_id = upload["UploadId"]
    completed: list[dict[str, Any]] = []
    buffer = bytearray(head)

    def flush() -> None:
        number = len(completed) + 1
        etag = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=bytes(buffer)
        )
        completed.append({"PartNumber": number, "ETag": etag["ETag"]})
        buffer.clear()

    def read(source: str, first: int, last: int) -> bytes:
        response = s3.get_object(Bucket=parts_bucket, Key=source, Range=f"bytes={first}-{last}")
        return response["Body"].read()

    try:
        for source, size in sources:
            offset = 0
            if buffer:
                # Top the pending bytes up to a valid part size from the start of this source.
                needed = min(size, MIN_PART - len(buffer)) if len(buffer) < MIN_PART else 0
                if needed:
                    buffer += read(source, 0, needed - 1)
                    offset = needed
                if len(buffer) >= MIN_PART:
                    flush()
            remaining = size - offset
            if remaining >= MIN_PART and not buffer:
                # Server-side copy of the rest, in ranges S3 accepts.
                while remaining > 0:
                    length = min(remaining, MAX_COPY_PART)
                    if 0 < remaining - length < MIN_PART:
                        length = remaining - MIN_PART  # keep the tail a valid part too
                    number = len(completed) + 1
                    copied = s3.upload_part_copy(
                        Bucket=bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        CopySource={"Bucket": parts_bucket, "Key": source},
                        CopySourceRange=f"bytes={offset}-{offset + length - 1}",
                    )
                    completed.append({"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]})
                    offset += length
                    remaining -= length
            elif remaining > 0:
                buffer += read(source, offset, size - 1)
                if len(buffer) >= MIN_PART:
                    flush()
        if buffer or not completed:
            flush()
        s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": completed}
        )
    except Exception:
        # Leave no half-built upload behind (they are billed); the caller's retry starts from scratch.
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    return {"parts": len(sources), "bytes": total + len(head)}
