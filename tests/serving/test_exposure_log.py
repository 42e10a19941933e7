"""The exposure log end to end: the serving handler's log lines for an experiment's users, through a stand-in of
the subscription filter and Firehose (testkit.exposure_delivery, configured with the construct's own filter,
processors and prefix), into moto S3, read back through the `exposures` Glue table's layout on DuckDB."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from common.experiments import EXPOSURE_DAY, EXPOSURE_KEY, EXPOSURES_PREFIX, EXPOSURES_TABLE, Arm, Experiment, Exposure
from common.observability import logger
from serving import exposures
from serving.settings import ServingSettings
from stacks.constructs.exposure_log import DELIVERY_PREFIX, FILTER_PATTERN, PROCESSORS
from testkit import exposure_delivery as delivery
from testkit.serving_harness import RESULTS_BUCKET

USER = "/v1/countries/KR/users/{}/recommendations"
USERS = [f"u-{n}" for n in range(24)] + ["u-batch", "u-profile"]
ARRIVAL = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
# What the Lambda runtime itself writes to the same log group.
RUNTIME_LINES = [
    "START RequestId: 8f5e1f0a-1111-2222-3333-444455556666 Version: $LATEST",
    "END RequestId: 8f5e1f0a-1111-2222-3333-444455556666",
    "REPORT RequestId: 8f5e1f0a-1111-2222-3333-444455556666\tDuration: 12.34 ms\tBilled Duration: 13 ms",
]


def experiment() -> Experiment:
    start = datetime.now(UTC).date() - timedelta(days=1)
    arms = {Arm.PERSONALIZE: 0.5, Arm.CURATION: 0.25, Arm.POPULARITY: 0.25}
    return Experiment(name="kr-exposure-log", arms=arms, start=start, end=start + timedelta(days=28))


def an_exposure(**changed) -> Exposure:
    fields = dict(
        country="KR",
        experiment="kr-x",
        arm=Arm.CURATION,
        user_id="u-1",
        recommendation_id="curation-abc",
        items=("i1", "i2"),
        source="user",
        served_at=1_763_290_000_000,
    )
    return Exposure(**{**fields, **changed})


def served_log_lines(api, monkeypatch, capfd) -> list[str]:
    """Every line the handler writes while serving USERS during an experiment (exposures, metrics, logs)."""
    monkeypatch.setenv("EXPERIMENTS", ServingSettings.render_experiments({"KR": (experiment(),)}) or "{}")
    api.api.use()
    capfd.readouterr()
    for user in USERS:
        status, body = api.get(USER.format(user))
        assert status == 200, body
    logger.info("served", extra={"users": len(USERS)})  # a Powertools line as the handler's own logs look
    return capfd.readouterr().out.splitlines()


def _parsed(line: str) -> dict:
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def exposure_table(con: duckdb.DuckDBPyConnection, s3, tmp_path) -> None:
    """The `exposures` table as the Glue table reads the bucket: every object under the prefix, one row per
    line (LazySimpleSerDe with \\x01: the line whole), `dt` from the object's partition folder."""
    listed = s3.list_objects_v2(Bucket=RESULTS_BUCKET, Prefix=EXPOSURES_PREFIX).get("Contents", [])
    assert listed, "nothing was delivered"
    for obj in listed:
        target = tmp_path / obj["Key"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(s3.get_object(Bucket=RESULTS_BUCKET, Key=obj["Key"])["Body"].read())
    con.execute(
        f"""CREATE TABLE {EXPOSURES_TABLE} AS SELECT line, {EXPOSURE_DAY}
        FROM read_csv('{tmp_path}/{EXPOSURES_PREFIX}*/*.gz', delim = chr(1), quote = '', escape = '',
            header = false, columns = {{'line': 'VARCHAR'}}, auto_detect = false, hive_partitioning = true,
            hive_types = {{'{EXPOSURE_DAY}': 'VARCHAR'}}, compression = 'gzip', null_padding = true)"""
    )


def test_the_exposure_line_is_the_exposure_under_its_key_on_one_line(capfd):
    exposure = an_exposure(user_id="user with \n newline", items=("한국", 'say "hi"'))
    exposures.log_exposure(exposure)
    out = capfd.readouterr().out
    assert out.endswith("\n") and out.count("\n") == 1
    assert Exposure(**json.loads(out)[EXPOSURE_KEY]) == exposure


def test_the_filter_keeps_exposure_lines_and_drops_every_other_line_the_function_writes(api, monkeypatch, capfd):
    lines = served_log_lines(api, monkeypatch, capfd)
    exposure_lines = [line for line in lines if isinstance(_parsed(line).get(EXPOSURE_KEY), dict)]
    other = [line for line in lines if line not in exposure_lines]
    assert len(exposure_lines) == len(USERS)
    assert other, "the handler wrote no other line: metrics and logs should be there"
    lookalikes = [
        json.dumps({"level": "INFO", "message": "logged an exposure", "exposure": None}),
        json.dumps({"level": "INFO", "exposure": "u-1"}),
        json.dumps({"exposure": {"country": "KR"}}),
        '{"exposure": {"experiment": "kr-x"',  # cut off: not JSON
        'exposure experiment "kr-x"',
    ]
    assert all(delivery.matches(FILTER_PATTERN, line) for line in exposure_lines)
    assert not any(delivery.matches(FILTER_PATTERN, line) for line in [*other, *RUNTIME_LINES, *lookalikes])


def test_every_served_exposure_reaches_the_exposure_table_once(api, monkeypatch, capfd, tmp_path):
    lines = [*RUNTIME_LINES[:1], *served_log_lines(api, monkeypatch, capfd), *RUNTIME_LINES[1:]]
    logged = [Exposure(**json.loads(line)[EXPOSURE_KEY]) for line in lines if delivery.matches(FILTER_PATTERN, line)]
    records = delivery.subscription_records(FILTER_PATTERN, lines, log_group="/aws/lambda/serving", filter_name="f")
    # Two buffers, the first starting with the control message CloudWatch Logs sends when the filter is created.
    buffers = [[delivery.control_record("/aws/lambda/serving"), *records[:1]], records[1:]]
    assert all(buffers)
    for n, buffer in enumerate(buffers):
        delivery.deliver(
            api.s3,
            RESULTS_BUCKET,
            buffer,
            processors=[(kind, params) for kind, params in PROCESSORS],
            prefix=DELIVERY_PREFIX,
            arrival=ARRIVAL + timedelta(minutes=15 * n),
        )

    con = duckdb.connect()
    exposure_table(con, api.s3, tmp_path)
    rows = con.execute(
        f"""SELECT CAST(json_extract(line, '$.{EXPOSURE_KEY}') AS VARCHAR), {EXPOSURE_DAY} FROM {EXPOSURES_TABLE}
        WHERE trim(line) <> ''"""
    ).fetchall()

    assert sorted((Exposure(**json.loads(record)) for record, _ in rows), key=repr) == sorted(logged, key=repr)
    assert {user.user_id for user in logged} == set(USERS)
    assert {day for _, day in rows} == {ARRIVAL.date().isoformat()}


def test_a_line_run_into_the_next_batch_would_be_lost_without_the_delimiter():
    """Message extraction ends a record without a newline: the delimiter processor keeps records apart."""
    records = delivery.subscription_records(
        FILTER_PATTERN,
        [json.dumps(an_exposure(user_id=f"u-{n}").line()) for n in range(4)],
        log_group="g",
        filter_name="f",
        batch_size=2,
    )
    without = [(k, p) for k, p in PROCESSORS if k != "AppendDelimiterToRecord"]
    for processors, expected in ((PROCESSORS, 4), (without, 3)):
        body = b"".join(delivery.process(r, processors) for r in records)
        assert len([line for line in body.decode().splitlines() if line.strip()]) == expected


@pytest.mark.parametrize(
    "prefix, expected",
    [(DELIVERY_PREFIX, f"{EXPOSURES_PREFIX}{EXPOSURE_DAY}=2026-11-16/"), ("x/!{firehose:random-string}/", None)],
)
def test_the_prefix_names_the_arrival_day_and_unknown_expressions_are_refused(prefix, expected):
    if expected is None:
        with pytest.raises(ValueError, match="expands only"):
            delivery.object_prefix(prefix, ARRIVAL)
    else:
        assert delivery.object_prefix(prefix, ARRIVAL + timedelta(hours=11, minutes=59)) == expected


def test_the_stand_in_refuses_a_filter_or_processor_it_does_not_model():
    with pytest.raises(ValueError, match="filter form"):
        delivery.matches('{ $.exposure.experiment = "kr-*" }', "{}")
    with pytest.raises(ValueError, match="processor"):
        delivery.process(gzip.compress(b"{}"), [("Decompression", {"CompressionFormat": "ZSTD"})])
