"""`personalize-runs events replay` on moto's Kinesis, SQS, S3 and CloudFormation: descriptors in the
failure queue are read, their ranges fetched from the stream by sequence number, resent through the ingest's
delivery (fake personalize-events, moto has none), and deleted only when every record was delivered or
dead-lettered."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from moto import mock_aws

from testkit.fakes.ingest import client_error, event
from tests.replay.events_world import BUCKET, Realtime
from tools.replay import events
from tools.replay.events import parse_descriptor


@pytest.fixture
def realtime(monkeypatch):
    # moto's SQS really waits out a long poll on an empty queue.
    monkeypatch.setattr(events, "RECEIVE_WAIT_S", 0)
    with mock_aws():
        yield Realtime()


def _sessions(first: int, count: int) -> list[dict[str, Any]]:
    """Events of two sessions (KR and JP) interleaved; event ids ev-<n>."""
    return [
        event(n, session_id=("s-kr", "s-jp")[n % 2], country=("KR", "JP")[n % 2]) for n in range(first, first + count)
    ]


def test_replay_resends_each_range_in_session_order_and_deletes_its_descriptor(realtime):
    first = _sessions(0, 12)
    second = _sessions(12, 8)
    junk = b"not json at all"
    # Thousands of unknown fields: a dead letter far above SQS's bound once its detail lists them all.
    huge = {**event(99, session_id="s-kr"), **{f"unknown_field_{i}": "x" * 20 for i in range(1200)}}
    numbers_first = realtime.put([*first, junk])
    numbers_second = realtime.put([*second, huge])
    realtime.fail_batch(numbers_first)
    realtime.fail_batch(numbers_second)

    code, out, err = realtime.cli("--yes")

    assert code == 0, err
    expected = {
        "s-kr": [e["event_id"] for e in first + second if e["session_id"] == "s-kr"],
        "s-jp": [e["event_id"] for e in first + second if e["session_id"] == "s-jp"],
    }
    assert realtime.sent_by_session() == expected
    letters = {letter["sequenceNumber"]: letter for letter in realtime.dead_letters()}
    assert set(letters) == {numbers_first[-1], numbers_second[-1]}
    assert letters[numbers_first[-1]]["reason"] == "malformed_json"
    # The oversized one points to S3, where the whole dead letter (data included) is kept.
    pointer = letters[numbers_second[-1]]
    assert pointer["reason"] == "invalid_field" and pointer["data"] is None
    bucket, key = pointer["payloadLocation"].removeprefix("s3://").split("/", 1)
    assert bucket == BUCKET and key.startswith("dead-letters/ingest/")
    stored = json.loads(realtime.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert json.loads(base64.b64decode(stored["data"])) == huge
    assert len(json.dumps(pointer)) < 64 * 1024 < pointer["payloadBytes"]
    assert realtime.visible_descriptors() == 0
    assert "2 deleted, 0 kept" in out
    assert "[1/2]" in err and "[2/2]" in err  # progress


def test_dry_run_reads_and_plans_but_sends_nothing_and_leaves_the_descriptors_visible(realtime):
    realtime.fail_batch(realtime.put(_sessions(0, 5)))
    code, out, err = realtime.cli("--dry-run", "--output", "json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["dry_run"] is True and plan["descriptors"] == 1 and plan["records"] == 5
    assert realtime.fake_personalize.calls == []
    assert realtime.visible_descriptors() == 1  # visible again at once, not after the visibility timeout


def test_a_descriptor_is_kept_while_a_tracker_still_fails_then_a_later_replay_finishes_it(realtime):
    batch = _sessions(0, 10)
    realtime.fail_batch(realtime.put(batch))
    realtime.fake_personalize.script = lambda params, number: (
        client_error("ServiceUnavailable", 503) if params["trackingId"] == "trk-kr" else None
    )
    code, out, err = realtime.cli("--yes", "--time-budget", "30")
    assert code == 1
    assert "0 deleted, 1 kept" in out and "again" in out
    assert realtime.visible_descriptors() == 1
    jp = [e["event_id"] for e in batch if e["country"] == "JP"]
    assert realtime.sent_by_session() == {"s-jp": jp}
    # The outage patience probed KR a few times within the budget, on the simulated clock.
    assert 0 < realtime.clock.t - 1000.0 <= 30

    realtime.fake_personalize.script = lambda params, number: None
    code, out, err = realtime.cli("--yes")
    assert code == 0, err
    # JP's events were sent again with the same event ids (idempotent); KR's arrive in order.
    assert realtime.sent_by_session() == {
        "s-jp": jp + jp,
        "s-kr": [e["event_id"] for e in batch if e["country"] == "KR"],
    }
    assert realtime.visible_descriptors() == 0


def test_without_a_terminal_it_asks_for_yes_and_a_no_changes_nothing(realtime):
    realtime.fail_batch(realtime.put(_sessions(0, 3)))
    code, _, err = realtime.cli(tty=False)
    assert code == 2 and "--yes" in err
    code, _, err = realtime.cli(answer="n\n")
    assert code == 3 and "cancelled" in err
    assert realtime.fake_personalize.calls == []
    assert realtime.visible_descriptors() == 1


def test_an_empty_queue_is_nothing_to_do_and_an_undeployed_env_is_not_found(realtime):
    code, out, _ = realtime.cli("--yes")
    assert code == 0 and "no descriptors" in out
    realtime.fake_cloudformation.deployed = False
    code, _, err = realtime.cli("--yes")
    assert code == 3 and "is the env deployed" in err


def test_a_message_that_is_not_a_descriptor_is_left_in_the_queue(realtime):
    realtime.sqs.send_message(QueueUrl=realtime.failure_queue, MessageBody='{"hello": "world"}')
    code, out, err = realtime.cli("--yes")
    assert code == 0 and "not Kinesis descriptors" in err
    assert realtime.visible_descriptors() == 1


def test_the_descriptor_is_read_as_the_lambda_guide_shows_it():
    body = {
        "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 1},
        "KinesisBatchInfo": {
            "shardId": "shardId-000000000001",
            "startSequenceNumber": "49601189658422359378836298521827638475320189012309704722",
            "endSequenceNumber": "49601189658422359378836298522902373528957594348623495186",
            "approximateArrivalOfFirstRecord": "2019-11-14T00:38:04.835Z",
            "approximateArrivalOfLastRecord": "2019-11-14T00:38:05.580Z",
            "batchSize": 500,
            "streamArn": "arn:aws:kinesis:us-east-2:123456789012:stream/mystream",
        },
    }
    descriptor = parse_descriptor({"MessageId": "m", "ReceiptHandle": "r", "Body": json.dumps(body)})
    assert (descriptor.shard_id, descriptor.batch_size, descriptor.condition) == (
        "shardId-000000000001",
        500,
        "RetryAttemptsExhausted",
    )
    with pytest.raises(ValueError, match="not a Kinesis on-failure record"):
        parse_descriptor({"MessageId": "m", "ReceiptHandle": "r", "Body": json.dumps({"KinesisBatchInfo": {}})})
