"""The report step publishes the cold-start lists the prepare step UNLOADed (pipeline.cold_start reads the run
attempt's cold_start parts): its role may read that folder of any run and no other output it does not use."""

from __future__ import annotations

import pytest

from dataprep.queries import Output
from testkit.pipeline_harness import PIPELINE_STACK
from tests.iam.calls import object_arn
from tests.iam.policy import ACCOUNT, REGION, Assembly, Request

PREPARED = f"personalize-dev-prepared-{ACCOUNT}-{REGION}"
RUN = "athena/runs/KR/2026-11-15/KR-2026-11-15-1/a1"


@pytest.fixture(scope="module")
def assembly(dev_app) -> Assembly:
    return Assembly(dev_app.outdir)


def test_the_report_role_reads_the_cold_start_parts_of_a_run_and_not_its_other_unused_outputs(assembly):
    (function,) = [k for k in assembly.resources(PIPELINE_STACK, "AWS::Lambda::Function") if k.startswith("Report")]
    role = assembly.role_of_function(PIPELINE_STACK, function)

    def reads(key: str) -> bool:
        return assembly.evaluate(role, Request.of("s3:GetObject", [object_arn(PREPARED, key)])).allowed

    assert reads(f"{RUN}/{Output.COLD_START}/part-00000")
    for output in (Output.RANKING_INPUT, Output.ALL_USERS, Output.INTERACTIONS_INCREMENTAL):
        assert not reads(f"{RUN}/{output}/part-00000"), output
