"""Template tests of the pipeline stack: definition substitutions, schedules, roles, failure routing, alarms."""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk.assertions import Match

from stacks.config import load_config
from tests.infra.iam_oracle import has_resource_level_permissions

CONFIG = load_config("dev")
PIPELINE = "Personalize-dev-Pipeline"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def resources(template: dict, type_name: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_name}


@pytest.fixture(scope="module")
def pipeline(dev_app) -> dict:
    return dev_app.template_json(PIPELINE)


@pytest.fixture(scope="module")
def machine(pipeline) -> dict:
    (machine,) = resources(pipeline, "AWS::StepFunctions::StateMachine").values()
    return machine["Properties"]


def test_every_substitution_in_the_definition_is_resolved(dev_app, machine):
    asl = (dev_app.outdir / f"asset.{machine['DefinitionS3Location']['Key']}").read_text()
    placeholders = set(PLACEHOLDER.findall(asl))
    substitutions = set(machine["DefinitionSubstitutions"])
    assert placeholders, "the definition should reference its resources through substitutions"
    assert placeholders - substitutions == set(), "unresolved ${...} in statemachines/pipeline.asl.json"
    assert substitutions - placeholders == set(), "substitution given but never used"
    substituted = asl
    for name in substitutions:
        substituted = substituted.replace("${" + name + "}", "x")
    assert "${" not in substituted
    json.loads(substituted)


# The error names each integration reports, as Step Functions documents them:
# - Lambda (bp-lambda-serviceexception): "Lambda errors are reported as Lambda.ErrorName" (ServiceException,
#   AWSLambdaException, SdkClientException, ClientExecutionTimeoutException); "When Lambda hits the maximum number
#   of invocations, the error is Lambda.TooManyRequestsException"; "Unhandled errors in Lambda are reported as
#   Lambda.Unknown" (out-of-memory, function timeouts). Our handlers' own transient errors carry their class name.
# - EventBridge (connect-eventbridge): "If the response from PutEvents contains a non-zero FailedEntryCount then the
#   Task state fails with the error EventBridge.FailedEntry"; the entries' retryable codes are ThrottlingException
#   and InternalFailure (PutEventsResultEntry); a failed call itself: EventBridge.<exception> (InternalException is
#   PutEvents' only modeled error, ThrottlingException the common one).
# - SNS (connect-sns lists no names): Step Functions reports SNS.<error code>Exception, e.g. SNS.ThrottledException
#   for the code Throttled; the codes are the botocore SNS model's (checked below), the naming is what moto's
#   Step Functions engine (ported from LocalStack's AWS-parity tests) reports.
# - CountNotificationFailure (aws-sdk:cloudwatch) is best effort: any task failure is retried (States.TaskFailed).
LAMBDA_STEP_POLICY = [
    {
        "ErrorEquals": [
            "PersonalizeThrottled",
            "PersonalizeResourceInUse",
            "Lambda.ServiceException",
            "Lambda.AWSLambdaException",
            "Lambda.SdkClientException",
            "Lambda.TooManyRequestsException",
            "Lambda.ClientExecutionTimeoutException",
        ],
        "IntervalSeconds": 5,
        "BackoffRate": 2.0,
        "MaxAttempts": 6,
        "MaxDelaySeconds": 300,
        "JitterStrategy": "FULL",
    },
    {
        "ErrorEquals": ["PersonalizeLimitExceeded"],
        "IntervalSeconds": 300,
        "BackoffRate": 1.5,
        "MaxAttempts": 12,
        "MaxDelaySeconds": 1800,
        "JitterStrategy": "FULL",
    },
    {
        "ErrorEquals": ["Lambda.Unknown", "States.Timeout"],
        "IntervalSeconds": 30,
        "BackoffRate": 2.0,
        "MaxAttempts": 2,
        "JitterStrategy": "FULL",
    },
]
TRANSIENT_BY_INTEGRATION = {
    "arn:aws:states:::lambda:invoke": {"Lambda.ServiceException", "Lambda.TooManyRequestsException", "Lambda.Unknown"},
    "arn:aws:states:::sns:publish": {
        "SNS.ThrottledException",
        "SNS.KMSThrottlingException",
        "SNS.InternalErrorException",
    },
    "arn:aws:states:::events:putEvents": {"EventBridge.FailedEntry", "EventBridge.ThrottlingException"},
    "arn:aws:states:::aws-sdk:cloudwatch:putMetricData": {"States.TaskFailed"},
}


def test_sns_error_names_in_the_definition_are_sns_error_codes():
    import botocore.session

    codes = {
        shape.metadata["error"]["code"]
        for shape in botocore.session.get_session().get_service_model("sns").error_shapes
        if "error" in shape.metadata
    }
    for name in TRANSIENT_BY_INTEGRATION["arn:aws:states:::sns:publish"]:
        assert name.removeprefix("SNS.").removesuffix("Exception") in codes, name


def test_every_task_retries_the_transient_errors_of_its_own_integration(dev_app, machine):
    definition = json.loads((dev_app.outdir / f"asset.{machine['DefinitionS3Location']['Key']}").read_text())
    tasks = {name: s for name, s in definition["States"].items() if s["Type"] == "Task"}
    assert len(tasks) >= 12
    policies = set()
    for name, task in tasks.items():
        retriers = {e for r in task["Retry"] for e in r["ErrorEquals"]}
        assert TRANSIENT_BY_INTEGRATION[task["Resource"]] <= retriers, name
        assert all(r.get("JitterStrategy") == "FULL" and r["BackoffRate"] >= 1 for r in task["Retry"]), name
        policies.add(json.dumps(task["Retry"], sort_keys=True))
        if task["Resource"] == "arn:aws:states:::lambda:invoke":
            # every step the same way; and failures fail the execution at the step, so redrive resumes there
            assert task["Retry"] == LAMBDA_STEP_POLICY, name
            assert "Catch" not in task, name
        else:
            # after Finish recorded the run, nothing may fail it: every failure is caught into the output
            (catch,) = task["Catch"]
            assert catch["ErrorEquals"] == ["States.ALL"] and catch["ResultPath"].startswith("$."), name
    assert len(policies) == len(TRANSIENT_BY_INTEGRATION)  # one retry policy per integration, no more
    waits = [s for s in definition["States"].values() if s["Type"] == "Wait"]
    assert waits and all(w["SecondsPath"].endswith(".wait_seconds") for w in waits)


def test_one_schedule_per_country_in_its_time_zone_with_retries_and_a_dlq(pipeline):
    schedules = resources(pipeline, "AWS::Scheduler::Schedule")
    assert len(schedules) == len(CONFIG.countries)
    queues = resources(pipeline, "AWS::SQS::Queue")
    by_name = {s["Properties"]["Name"]: s["Properties"] for s in schedules.values()}
    for country in CONFIG.countries:
        props = by_name[f"personalize-dev-{country.slug}-daily"]
        assert props["ScheduleExpressionTimezone"] == country.time_zone
        hour, minute = country.run_time.hour, country.run_time.minute
        assert props["ScheduleExpression"] == f"cron({minute} {hour} * * ? *)"
        assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
        target = props["Target"]
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == 5
        assert target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0] in queues
        assert "<aws.scheduler.scheduled-time>" in json.dumps(target["Input"])
        assert f'\\"country\\":\\"{country.code}\\"' in json.dumps(
            target["Input"]
        ) or f'"country":"{country.code}"' in json.dumps(target["Input"])


def test_failed_timed_out_and_aborted_runs_reach_the_failure_recorder(pipeline):
    (rule,) = resources(pipeline, "AWS::Events::Rule").values()
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.states"]
    assert sorted(pattern["detail"]["status"]) == ["ABORTED", "FAILED", "TIMED_OUT"]
    (target,) = rule["Properties"]["Targets"]
    handler = pipeline["Resources"][target["Arn"]["Fn::GetAtt"][0]]["Properties"]["Handler"]
    assert handler == "pipeline.handlers.record_failure"
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 8 and "DeadLetterConfig" in target


def test_the_failure_recorder_keeps_what_it_cannot_handle_in_an_encrypted_queue_and_alarms(pipeline):
    functions = resources(pipeline, "AWS::Lambda::Function")
    (recorder_id,) = [k for k, f in functions.items() if f["Properties"].get("Handler", "").endswith("record_failure")]
    (config,) = [
        c["Properties"]
        for c in resources(pipeline, "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": recorder_id}
    ]
    assert config["MaximumRetryAttempts"] == 2 and config["MaximumEventAgeInSeconds"] == 6 * 3600
    queue_id = config["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    queue = pipeline["Resources"][queue_id]
    assert queue["Type"] == "AWS::SQS::Queue" and "KmsMasterKeyId" in queue["Properties"]
    alarms = [a["Properties"] for a in resources(pipeline, "AWS::CloudWatch::Alarm").values()]
    assert [a for a in alarms if queue_id in json.dumps(a)], "no alarm on the recorder's on-failure queue"
    assert [
        a for a in alarms if recorder_id in json.dumps(a) and "Errors" in json.dumps(a)
    ], "no alarm on the recorder's errors"


def test_the_failure_recorder_may_read_this_envs_executions_and_decrypt_them_only_through_step_functions(pipeline):
    statements = _statements_of(pipeline, "pipeline.handlers.record_failure")
    (reading,) = [s for s in statements if "states:DescribeExecution" in _actions([s])]
    assert _actions([reading]) == {"states:DescribeExecution", "states:GetExecutionHistory"}
    assert ":execution:personalize-dev-pipeline:*" in json.dumps(reading["Resource"])
    (decrypt,) = [s for s in statements if "aws:states:stateMachineArn" in json.dumps(s.get("Condition"))]
    assert _actions([decrypt]) == {"kms:Decrypt"}
    assert json.dumps(decrypt["Condition"]["StringEquals"]["kms:ViaService"]).count("states.") == 1
    assert ":stateMachine:personalize-dev-pipeline" in json.dumps(decrypt["Condition"])


def test_the_state_machine_may_put_only_its_notification_metric(pipeline, machine):
    role_id = machine["RoleArn"]["Fn::GetAtt"][0]
    statements = [
        st
        for p in resources(pipeline, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for st in p["Properties"]["PolicyDocument"]["Statement"]
        if "cloudwatch:PutMetricData" in json.dumps(st["Action"])
    ]
    (statement,) = statements
    assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": "PersonalizeRecommendations"}}


def _handler(function: dict) -> str:
    props = function["Properties"]
    return props.get("Handler") or props["ImageConfig"]["Command"][0]


def _statements_of(pipeline: dict, handler: str) -> list[dict]:
    function_id, function = next(
        (k, v) for k, v in resources(pipeline, "AWS::Lambda::Function").items() if _handler(v) == handler
    )
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return [
        s
        for p in resources(pipeline, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statements: list[dict]) -> set[str]:
    out = set()
    for s in statements:
        out.update([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    return out


PERSONALIZE_ACTIONS = {
    "pipeline.handlers.import_data": {
        "personalize:CreateDatasetImportJob",
        "personalize:DescribeDatasetImportJob",
    },
    "pipeline.handlers.train": {
        "personalize:CreateSolution",
        "personalize:DescribeSolution",
        "personalize:UpdateSolution",
        "personalize:CreateSolutionVersion",
        "personalize:DescribeSolutionVersion",
        "personalize:ListSolutionVersions",
        "personalize:StopSolutionVersionCreation",  # a training past its timeout
    },
    "pipeline.handlers.gate": {"personalize:GetSolutionMetrics"},
    "pipeline.handlers.promote": {
        "personalize:CreateCampaign",
        "personalize:DescribeCampaign",
        "personalize:UpdateCampaign",
        # the country's filters, made before Batch (lambdas/pipeline/filters.py); replaced ones deleted a day on
        "personalize:CreateFilter",
        "personalize:DescribeFilter",
        "personalize:DeleteFilter",
        "personalize:ListFilters",
    },
    "pipeline.handlers.batch_inference": {
        "personalize:CreateBatchInferenceJob",
        "personalize:DescribeBatchInferenceJob",
    },
    "pipeline.handlers.begin_run": set(),
    "pipeline.handlers.prepare_data": set(),
    "pipeline.handlers.finish_run": set(),
    "pipeline.handlers.publish": set(),
    "pipeline.handlers.record_failure": set(),
    "pipeline.report_handler.report_page": set(),
}


@pytest.mark.parametrize("handler", sorted(PERSONALIZE_ACTIONS))
def test_each_step_role_allows_only_its_own_personalize_calls_on_this_env(pipeline, handler):
    statements = _statements_of(pipeline, handler)
    personalize = {a for a in _actions(statements) if a.startswith("personalize:")}
    assert personalize == PERSONALIZE_ACTIONS[handler]
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        assert not any(a.endswith(":*") or a == "*" for a in actions), statement
        if any(a.startswith("personalize:") for a in actions):
            rendered = json.dumps(statement["Resource"])
            # every Personalize resource is this env's (prefix) or a public recipe
            for resource in (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            ):
                text = json.dumps(resource)
                if resource == "*":  # only what has no resource-level permissions (Service Authorization Ref.)
                    on_star = {a for a in actions if a.startswith("personalize:")}
                    assert on_star and not any(has_resource_level_permissions(a) for a in on_star), rendered
                else:
                    assert "personalize-dev-" in text, rendered
    # PassRole only to Personalize, only where a job is created with the role
    passing = [s for s in statements if "iam:PassRole" in _actions([s])]
    if handler in ("pipeline.handlers.import_data", "pipeline.handlers.batch_inference"):
        (statement,) = passing
        assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "personalize.amazonaws.com"}}
    else:
        assert passing == []


def test_only_the_prepare_and_report_steps_may_query_athena(pipeline):
    for handler in PERSONALIZE_ACTIONS:
        athena = {a for a in _actions(_statements_of(pipeline, handler)) if a.startswith("athena:")}
        queries = handler in ("pipeline.handlers.prepare_data", "pipeline.report_handler.report_page")
        assert bool(athena) == queries, handler
    # the report step reads results back from S3 (its UNLOADs), never with GetQueryResults, and no raw export
    report = _statements_of(pipeline, "pipeline.report_handler.report_page")
    assert {a for a in _actions(report) if a.startswith("athena:")} == {
        "athena:StartQueryExecution",
        "athena:GetQueryExecution",
    }
    assert "-raw-" not in json.dumps([s["Resource"] for s in report])


def test_ledger_is_encrypted_with_the_env_key_and_recoverable(dev_app, pipeline):
    template = dev_app.template(PIPELINE)
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "TableName": "personalize-dev-runs",
            "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": Match.any_value()},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
        },
    )


def test_alarms_cover_failed_timed_out_and_aborted_runs_and_the_schedule_dlq(pipeline):
    alarms = [a["Properties"] for a in resources(pipeline, "AWS::CloudWatch::Alarm").values()]
    metric_names = {
        m["MetricStat"]["Metric"]["MetricName"] for a in alarms for m in a.get("Metrics", []) if "MetricStat" in m
    } | {a.get("MetricName") for a in alarms}
    assert {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"} <= metric_names
    queues = [a for a in alarms if "ApproximateNumberOfMessagesVisible" in json.dumps(a)]
    assert len(queues) == 3  # the schedule DLQ, the failure recorder's DLQ and its on-failure queue
    (notifications,) = [a for a in alarms if a.get("MetricName") == "NotificationsFailed"]
    assert notifications["Dimensions"] == [{"Name": "StateMachine", "Value": "personalize-dev-pipeline"}]
    assert all(a["AlarmActions"] for a in alarms)  # every alarm notifies the run topic
    assert resources(pipeline, "AWS::CloudWatch::Dashboard")


def test_report_step_is_a_container_image_pinned_like_the_project(dev_app, pipeline):
    from pathlib import Path

    (report,) = [
        f
        for f in resources(pipeline, "AWS::Lambda::Function").values()
        if f["Properties"].get("PackageType") == "Image"
    ]
    assert report["Properties"]["ImageConfig"]["Command"] == ["pipeline.report_handler.report_page"]
    root = Path(__file__).resolve().parents[2]
    pins = {line.split("==")[0]: line for line in (root / "requirements.txt").read_text().splitlines() if "==" in line}
    image_pins = [
        line
        for line in (root / "lambdas/report.requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert image_pins and all(pins[line.split("==")[0]] == line for line in image_pins)


@pytest.mark.parametrize("handler_module", ["pipeline.handlers", "ingest.handler"])
def test_zip_packaged_handlers_import_with_only_the_runtime_and_the_layer(handler_module):
    """Zip functions get boto3 (runtime) and Powertools + pydantic (layer) only: nothing else may be imported."""
    import subprocess
    import sys

    absent = ["numpy", "scipy", "duckdb", "sqlglot", "yaml", "moto", "aws_cdk", "cdk_nag"]
    code = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in absent) + f"import {handler_module}\n"
    result = subprocess.run([sys.executable, "-c", code], cwd="lambdas", capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_operator_policy_grants_exactly_what_personalize_runs_calls(pipeline):
    managed = resources(pipeline, "AWS::IAM::ManagedPolicy").values()
    policies = {p["Properties"]["ManagedPolicyName"]: p for p in managed}
    assert set(policies) == {"personalize-dev-run-operator", "personalize-dev-report-reader"}
    policy = policies["personalize-dev-run-operator"]
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert _actions(statements.values()) == {
        "states:DescribeExecution",
        "states:GetExecutionHistory",
        "states:RedriveExecution",
        "states:StartExecution",
        "dynamodb:GetItem",
        "dynamodb:Query",
        "scheduler:GetSchedule",
        "kms:Decrypt",
        "kms:DescribeKey",  # DynamoDB reads of the encrypted ledger
        "kms:GenerateDataKey",  # the encrypted state machine's input, on StartExecution / RedriveExecution
        "s3:GetObject",  # report-inputs: the per-user recipe's batch output
        "s3:ListBucket",
        "cloudformation:DescribeStacks",  # recommend: the serving API's URL, from the serving stack only
    }
    assert "stack/Personalize-dev-Serving/*" in json.dumps(statements["FindServingApi"]["Resource"])
    for sid in ("DecryptLedger", "EncryptedExecutions", "DecryptScheduleInput"):
        assert "kms:ViaService" in json.dumps(statements[sid]["Condition"]), sid
    assert "personalize-dev-pipeline:*" in json.dumps(statements["InspectAndRedriveRuns"]["Resource"])
    assert "schedule/default/personalize-dev-*" in json.dumps(statements["ReadScheduleInput"]["Resource"])


def test_schedules_share_one_role_that_can_start_the_pipeline_and_dead_letter(pipeline):
    schedules = resources(pipeline, "AWS::Scheduler::Schedule").values()
    (role_id,) = {s["Properties"]["Target"]["RoleArn"]["Fn::GetAtt"][0] for s in schedules}
    statements = [
        st
        for p in resources(pipeline, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for st in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert {"states:StartExecution", "sqs:SendMessage", "kms:GenerateDataKey", "kms:Decrypt"} <= _actions(statements)
    trust = pipeline["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"} and "aws:SourceAccount" in json.dumps(trust)


def test_every_pipeline_function_sets_exactly_the_variables_its_model_parses(pipeline):
    """The stack renders the pipeline functions' environment from pipeline.environment.PipelineEnvironment: each
    sets every required variable of it and nothing it does not know (powertools' own variables aside)."""
    from common.environment import variable_names
    from pipeline.environment import PipelineEnvironment

    variables = variable_names(PipelineEnvironment)
    names = set(variables.values())
    required = {variables[n] for n, f in PipelineEnvironment.model_fields.items() if f.is_required()}
    functions = [
        f["Properties"]
        for f in resources(pipeline, "AWS::Lambda::Function").values()
        if "LEDGER_TABLE" in f["Properties"].get("Environment", {}).get("Variables", {})
    ]
    assert len(functions) >= 10  # the nine steps and the failure recorder
    for function in functions:
        own = {v for v in function["Environment"]["Variables"] if not v.startswith("POWERTOOLS_")}
        assert required <= own <= names, function.get("Description")


def test_the_report_reads_personalize_batch_output_as_text_lines_not_through_a_json_serde(dev_app):
    """Athena's OpenX JSON SerDe page warns its results can be non-deterministic (report_catalog.py quotes it);
    the Hive JSON SerDe fails a query on one malformed line: the batch output is one string per line and the
    report SQL parses it (tests/evaluation/test_eval_batch_lines.py)."""
    tables = {
        t["Properties"]["TableInput"]["Name"]: t["Properties"]["TableInput"]
        for name in dev_app.stack_names
        for t in resources(dev_app.template_json(name), "AWS::Glue::Table").values()
    }
    batch = tables["batch_output"]["StorageDescriptor"]
    assert batch["Columns"] == [{"Name": "line", "Type": "string"}]
    assert batch["SerdeInfo"]["SerializationLibrary"] == "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
    assert batch["SerdeInfo"]["Parameters"] == {"field.delim": "\u0001"}
    libraries = {t["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] for t in tables.values()}
    assert not {lib for lib in libraries if "json" in lib.lower()}, libraries
