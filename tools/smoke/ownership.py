"""What a smoke run made, so that its clean-up removes exactly that: the stacks that did not exist before its
deploy, and the object versions it uploaded. Anything else in the account is not the run's to delete."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from stacks.config import EnvironmentConfig
from stacks.names import (
    country_stack_name,
    data_stack_name,
    pipeline_stack_name,
    realtime_stack_name,
    serving_stack_name,
)

DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys per request


def env_stack_names(config: EnvironmentConfig) -> list[str]:
    """The stacks `cdk deploy --all` deploys for this env, in the app's order (stacks.names: no CDK import)."""
    countries = [country_stack_name(config, country.code) for country in config.countries]
    return [
        data_stack_name(config),
        *countries,
        pipeline_stack_name(config),
        serving_stack_name(config),
        realtime_stack_name(config),
    ]


def live_stacks(cloudformation: Any, names: Iterable[str]) -> set[str]:
    """The stacks of `names` that exist now. DescribeStacks: "If the stack doesn't exist, a ValidationError is
    returned", and a deleted stack is found only by its unique stack id, never by its name. Any other error
    (access denied, throttling) propagates: an unknown answer must never count as "absent"."""
    live = set()
    for name in names:
        try:
            stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ValidationError" and "does not exist" in str(error):
                continue
            raise
        if any(stack["StackStatus"] != "DELETE_COMPLETE" for stack in stacks):
            live.add(name)
    return live


@dataclass(frozen=True)
class Upload:
    """One object version this run wrote. `version_id` is None in a bucket without versioning, where the run
    refuses to write a key that already exists (so the key is the run's alone)."""

    bucket: str
    key: str
    version_id: str | None


class KeyTaken(Exception):
    """An upload would replace an object the run did not write; the message is one line."""


def check_free(s3: Any, bucket: str, keys: list[str]) -> None:
    """In a bucket that keeps no versions an upload replaces the object at its key for good: refuse any key
    already there. A versioned bucket keeps the earlier version; the clean-up deletes only the run's."""
    status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    if status == "Enabled":
        return
    taken = []
    for key in keys:
        try:
            s3.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                continue
            raise
        taken.append(key)
    if taken:
        more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
        raise KeyTaken(
            f"s3://{bucket}/ keeps no object versions and already holds {taken[0]}{more}: the sample upload "
            "would replace it"
        )


def upload(s3: Any, bucket: str, key: str, body: bytes) -> Upload:
    # PutObject's VersionId: "If you enable versioning for a bucket, Amazon S3 automatically generates a unique
    # version ID for the object being stored. Amazon S3 returns this ID in the response."
    response = s3.put_object(Bucket=bucket, Key=key, Body=body)
    return Upload(bucket, key, response.get("VersionId"))


def delete_uploads(s3: Any, uploads: list[Upload]) -> int:
    """Delete exactly these versions; return how many. A DELETE that names no version would not do: "When
    versioning is enabled, a simple DELETE cannot permanently delete an object. Instead, Amazon S3 inserts a
    delete marker" (S3 user guide, deleting object versions), which would hide the key's earlier version."""
    by_bucket: dict[str, list[dict[str, str]]] = {}
    for item in uploads:
        entry = {"Key": item.key} if item.version_id is None else {"Key": item.key, "VersionId": item.version_id}
        by_bucket.setdefault(item.bucket, []).append(entry)
    failed: list[str] = []
    for bucket, objects in by_bucket.items():
        for start in range(0, len(objects), DELETE_BATCH):
            batch = objects[start : start + DELETE_BATCH]
            response = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            failed += [f"{error['Key']} ({error.get('Code')})" for error in response.get("Errors", [])]
    if failed:
        raise RuntimeError(f"{len(failed)} uploaded object(s) not deleted, e.g. {failed[0]}")
    return len(uploads)
