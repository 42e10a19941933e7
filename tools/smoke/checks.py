"""What a smoke run checks once its execution ended: the ledger record, each Personalize resource the record names
(ACTIVE), the batch output, the ingest's own count of delivered events (and no new dead letter), the notification.

Each check adds (what, ok, detail) to the run's `verified` list (`Smoke.check`); nothing here raises for a check
that fails.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tools.smoke.flow import Smoke

METRICS_NAMESPACE = "PersonalizeRecommendations"
INGEST_SERVICE = "realtime-ingest"


def verify(smoke: Smoke, status: str, sent: int) -> None:
    smoke.check("execution", status == "SUCCEEDED", f"{status}: {smoke.execution_arn}")
    _verify_ledger(smoke)
    steps = (smoke.record or {}).get("steps") or {}
    _verify_jobs(smoke, steps, "import", "dataset-import-job", "import")
    _verify_jobs(smoke, steps, "train", "solution-version", "solution version")
    if smoke.options.country.campaign.enabled:
        _verify_jobs(smoke, steps, "promote", "campaign", "campaign")
    else:
        smoke.check("campaign", True, f"not configured for {smoke.options.country.code} (campaign.enabled false)")
    _verify_batch_output(smoke)
    _verify_put_events(smoke, sent)
    _verify_notification(smoke)


def _verify_ledger(smoke: Smoke) -> None:
    from pipeline.ledger_codec import decode_item

    code, run_date = smoke.options.country.code, str(smoke.run_date)
    item = smoke.client("dynamodb").get_item(
        TableName=smoke.outputs["LedgerTableName"],
        Key={"pk": {"S": f"RUN#{code}"}, "sk": {"S": run_date}},
        ConsistentRead=True,
    )
    smoke.record = decode_item(item["Item"]) if "Item" in item else None
    status = (smoke.record or {}).get("status")
    smoke.check("ledger record", status == "SUCCEEDED", f"RUN#{code} {run_date}: {status or 'missing'}")


def _verify_jobs(smoke: Smoke, steps: dict[str, Any], step: str, kind: str, what: str) -> None:
    jobs = [job for job in recorded_jobs(steps, step) if arn_kind(job["arn"]) == kind]
    if not jobs:
        smoke.check(what, False, f"no {kind} in the ledger's {step} step")
        return
    personalize = smoke.client("personalize")
    describe = {
        "dataset-import-job": lambda arn: personalize.describe_dataset_import_job(datasetImportJobArn=arn)[
            "datasetImportJob"
        ],
        "solution-version": lambda arn: personalize.describe_solution_version(solutionVersionArn=arn)[
            "solutionVersion"
        ],
        "campaign": lambda arn: personalize.describe_campaign(campaignArn=arn)["campaign"],
    }[kind]
    statuses = {job["arn"]: describe(job["arn"])["status"] for job in jobs}
    ok = all(status == "ACTIVE" for status in statuses.values())
    smoke.check(what, ok, ", ".join(f"{arn.rsplit('/', 1)[-1]} {status}" for arn, status in statuses.items()))


def _verify_batch_output(smoke: Smoke) -> None:
    bucket, prefix = smoke.outputs["ResultsBucketName"], f"{smoke.options.country.code}/{smoke.run_date}/"
    pages = smoke.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    outputs = [o["Key"] for page in pages for o in page.get("Contents", []) if o["Key"].endswith(".out")]
    smoke.check("batch output", bool(outputs), f"{len(outputs)} .out file(s) under s3://{bucket}/{prefix}")


def _verify_put_events(smoke: Smoke, sent: int) -> None:
    """The ingest function's own count of events Personalize accepted (its EMF metric), and no dead letter."""
    cloudwatch = smoke.client("cloudwatch")
    delivered = 0.0
    for _ in range(10):  # metrics appear a minute or two after the invocation
        points = cloudwatch.get_metric_statistics(
            Namespace=METRICS_NAMESPACE,
            MetricName="RecordsDelivered",
            Dimensions=[{"Name": "service", "Value": INGEST_SERVICE}],
            StartTime=smoke.events_sent_at - timedelta(minutes=5),
            EndTime=smoke.seams.now() + timedelta(minutes=5),
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        delivered = sum(p["Sum"] for p in points)
        if delivered >= sent:
            break
        smoke.seams.sleep(30)
    dead = queue_depth(smoke, smoke.outputs.get("DeadLetterQueueUrl")) - smoke.dead_letters_before
    smoke.check(
        "PutEvents accepted",
        delivered >= sent and dead <= 0,
        f"{delivered:g} of {sent} records delivered, {max(dead, 0)} new dead letter(s)",
    )


def queue_depth(smoke: Smoke, url: str | None) -> int:
    if not url:
        return 0
    attributes = smoke.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"
    ]
    return int(attributes["ApproximateNumberOfMessages"])


def _verify_notification(smoke: Smoke) -> None:
    if not smoke.queue_url:
        smoke.check("notification", False, "no notification topic to subscribe to")
        return
    wanted = f"{smoke.options.country.code} {smoke.run_date}"
    sqs = smoke.client("sqs")
    for _ in range(6):
        messages = sqs.receive_message(QueueUrl=smoke.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=10).get(
            "Messages", []
        )
        for message in messages:
            body = json.loads(message["Body"])
            if wanted in (body.get("Subject") or ""):
                smoke.check("notification", True, body["Subject"])
                return
        if not messages:
            smoke.seams.sleep(5)
    smoke.check("notification", False, f"no message with subject containing {wanted!r}")


def recorded_jobs(steps: dict[str, Any], step: str) -> list[dict[str, Any]]:
    """The ledger's jobs of one step that have an ARN (a job waiting for a quota slot has none)."""
    return [job for job in ((steps.get(step) or {}).get("jobs") or {}).values() if job.get("arn")]


def arn_kind(arn: str) -> str:
    """arn:aws:personalize:<region>:<account>:<type>/<name>[/<version id>] -> type (solution-version for a version)."""
    parts = arn.split(":", 5)[-1].split("/")
    return "solution-version" if parts[0] == "solution" and len(parts) == 3 else parts[0]
