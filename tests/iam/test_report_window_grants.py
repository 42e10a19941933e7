"""The report step reads the run attempt's window, not the prepared interactions: its role may read run_window's
Glue entry and the country's window parts (new, changed, old) of any run, the prepared users and items, and
nothing else of a run's folder; no Glue table prepared_interactions is left. Evaluated against the synthesised
templates like tests/iam/test_call_authorization.py."""

from __future__ import annotations

import pytest

from dataprep.columnar import COUNTRY_PARTS, WINDOW_FOLDER, WINDOW_PART, WINDOW_TABLE, Part
from dataprep.queries import Output
from testkit.pipeline_harness import PIPELINE_STACK
from tests.iam.calls import object_arn
from tests.iam.policy import ACCOUNT, REGION, Assembly, Request

PREPARED = f"personalize-dev-prepared-{ACCOUNT}-{REGION}"
RUN = "athena/runs/KR/2026-11-15/x/a1"


@pytest.fixture(scope="module")
def assembly(dev_app) -> Assembly:
    return Assembly(dev_app.outdir)


@pytest.fixture(scope="module")
def report_role(assembly):
    (logical_id,) = [k for k in assembly.resources(PIPELINE_STACK, "AWS::Lambda::Function") if k.startswith("Report")]
    return assembly.role_of_function(PIPELINE_STACK, logical_id)


def _reads(assembly, role, key: str) -> bool:
    return assembly.evaluate(role, Request.of("s3:GetObject", [object_arn(PREPARED, key)])).allowed


def test_the_report_role_reads_the_country_parts_of_the_window_and_not_the_prepared_interactions(assembly, report_role):
    for part in COUNTRY_PARTS:
        assert _reads(assembly, report_role, f"{RUN}/{WINDOW_FOLDER}/{WINDOW_PART}={part}/x.parquet"), part
    for part in set(Part) - set(COUNTRY_PARTS):
        assert not _reads(assembly, report_role, f"{RUN}/{WINDOW_FOLDER}/{WINDOW_PART}={part}/x.parquet"), part
    for output in (Output.USERS, Output.ITEMS):
        assert _reads(assembly, report_role, f"{RUN}/{output}/part-0"), output
    for output in (Output.INTERACTIONS, Output.COUNTS):
        assert not _reads(assembly, report_role, f"{RUN}/{output}/part-0"), output


def test_the_report_role_reads_the_run_window_table_and_no_prepared_interactions_table_exists(assembly, report_role):
    names = {
        assembly.templates[stack]["Resources"][k]["Properties"]["TableInput"]["Name"]
        for stack in assembly.templates
        for k in assembly.resources(stack, "AWS::Glue::Table")
    }
    assert WINDOW_TABLE in names and "prepared_interactions" not in names
    database = next(
        assembly.templates[s]["Resources"][k]["Properties"]["DatabaseInput"]["Name"]
        for s in assembly.templates
        for k in assembly.resources(s, "AWS::Glue::Database")
    )
    table = f"arn:aws:glue:{REGION}:{ACCOUNT}:table/{database}/{WINDOW_TABLE}"
    assert assembly.evaluate(report_role, Request.of("glue:GetTable", [table])).allowed
