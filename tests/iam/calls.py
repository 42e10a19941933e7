"""Every AWS call a function makes in the tests, who makes it, and the IAM requests it amounts to.

Recording: botocore's `BaseClient._make_api_call` (every boto3 client, moto's included) and the fakes' entry
points (FakePersonalize, FakeAthena, FakePersonalizeEvents, the redrive fake) report (service, operation,
parameters) to the recorder, which files the call under the caller acting at that moment. The caller is set
by whoever knows it: the pipeline harness's `_invoke` (the function's logical id -> its template `Role`), the
test for the CLI (the operator managed policy), for Scheduler and for the ingest function. Calls with no
caller (the test's own set-up and reads) are not recorded. A fake that itself calls moto (the redrive fake)
is recorded once, at its entry; what it does inside is suspended.

Mapping: `CallMap.requests(call)` turns a call into IAM requests -- the action(s) of the operation, the
resource ARNs its parameters name, the condition keys AWS puts in the request context -- plus the requests
the service then makes with the caller's credentials (KMS for a resource encrypted with a customer managed
key, Athena reading Glue and S3, Personalize reading and writing S3 through the role passed to it).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore import xform_name
from botocore.client import BaseClient

from tests.iam.policy import (
    ACCOUNT,
    REGION,
    Assembly,
    NotModelled,
    Principal,
    Request,
)
from tests.infra.iam_oracle import has_resource_level_permissions


@dataclass(frozen=True)
class Caller:
    label: str  # the function's logical id, "personalize-runs", "scheduler", ...
    principal: Principal = field(compare=False)


@dataclass
class Call:
    caller: Caller
    service: str  # botocore service name ("dynamodb", "stepfunctions", "personalize-events", ...)
    operation: str  # API name ("PutItem")
    params: dict[str, Any]


class CallRecorder:
    """Collects the calls made while a caller acts. One caller at a time: the harness runs executions, and
    the handlers in them, synchronously in the test's thread (s3transfer's worker threads included, as
    they work for the caller that started them), so a plain stack is enough."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._stack: list[Caller | None] = []

    @property
    def current(self) -> Caller | None:
        return self._stack[-1] if self._stack else None

    @contextlib.contextmanager
    def acting_as(self, caller: Caller | None) -> Iterator[None]:
        self._stack.append(caller)
        try:
            yield
        finally:
            self._stack.pop()

    def suspended(self):
        return self.acting_as(None)

    def record(self, service: str, operation: str, params: dict[str, Any], caller: Caller | None = None) -> None:
        caller = caller or self.current
        if caller is not None:
            self.calls.append(Call(caller, service, operation, json.loads(json.dumps(params, default=str))))

    # ------------------------------------------------------------------------------------------ hooks

    def install(self, monkeypatch) -> None:
        """Hook botocore and the fakes for the rest of the test."""
        from testkit.fakes.athena import FakeAthena
        from testkit.fakes.personalize import FakePersonalize, api_name

        recorder = self
        original_call = BaseClient._make_api_call

        def make_api_call(client, operation_name, api_params):
            recorder.record(client.meta.service_model.service_name, operation_name, api_params)
            return original_call(client, operation_name, api_params)

        monkeypatch.setattr(BaseClient, "_make_api_call", make_api_call)

        original_invoke = FakePersonalize._invoke

        def personalize_invoke(fake, operation, impl, kwargs):
            recorder.record("personalize", api_name(operation), kwargs)
            return original_invoke(fake, operation, impl, kwargs)

        monkeypatch.setattr(FakePersonalize, "_invoke", personalize_invoke)

        # FakeAthena emulates what Athena does (reading the tables' S3 objects, writing UNLOAD output) with moto
        # clients of its own; CallMap models those reads and writes from the query instead, so they are suspended.
        for name, operation in _operations("athena").items():
            if hasattr(FakeAthena, name):
                monkeypatch.setattr(
                    FakeAthena, name, _recorded(recorder, "athena", operation, getattr(FakeAthena, name))
                )

    def proxy(self, fake: Any, service: str) -> Any:
        """`fake` (a stand-in that is not a botocore client, e.g. the redrive fake) with its API calls
        recorded at its entry and everything it does inside unattributed."""
        return _RecordingProxy(self, fake, service)


def _operations(service: str) -> dict[str, str]:
    """boto3 method name -> API operation name of a botocore service model."""
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(name): name for name in model.operation_names}


def _recorded(recorder: CallRecorder, service: str, operation: str, method: Any) -> Any:
    def call(fake: Any, **kwargs: Any) -> Any:
        recorder.record(service, operation, kwargs)
        with recorder.suspended():
            return method(fake, **kwargs)

    return call


class _RecordingProxy:
    def __init__(self, recorder: CallRecorder, fake: Any, service: str) -> None:
        self._recorder = recorder
        self._fake = fake
        self._service = service
        self._operations = _operations(service)

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._fake, name)
        if name not in self._operations or not callable(target):
            return target
        recorder, service, operation = self._recorder, self._service, self._operations[name]

        def call(**kwargs: Any) -> Any:
            recorder.record(service, operation, kwargs)
            with recorder.suspended():
                return target(**kwargs)

        return call


# --------------------------------------------------------------------------------------------- mapping


def s3_parts(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def queue_arn(url: str) -> str:
    account, name = url.rstrip("/").split("/")[-2:]
    return f"arn:aws:sqs:{REGION}:{account}:{name}"


def machine_of_execution(execution_arn: str) -> str:
    parts = execution_arn.split(":")
    return ":".join(parts[:5] + ["stateMachine", parts[6]])


# moto-only names the harness gives what AWS would name differently (a redrive resumes on a shadow machine).
_HARNESS_ALIASES = [(re.compile(r":(stateMachine|execution):redrive-\d+"), r":\1:{machine}")]


def projected_locations(template: str, enums: dict[str, tuple[str, ...]], sql: str) -> list[str]:
    """Where a query reads a projected table (storage.location.template): for each enum key, the partitions whose
    value the query names as a literal (Athena prunes the others), every value when it names none; a date key is
    one day and any other key (injected) one `x`, each standing for every partition of it."""
    choices = {
        key: [v for v in values if re.search(rf"'{re.escape(v)}'", sql)] or list(values)
        for key, values in enums.items()
    }
    locations = []
    for combination in itertools.product(*choices.values()):
        location = template.replace("${dt}", "2026-11-14")
        for key, value in zip(choices, combination, strict=True):
            location = location.replace(f"${{{key}}}", value)
        locations.append(re.sub(r"\$\{[^}]+\}", "x", location).rstrip("/") + "/")
    return locations


@dataclass
class Requests:
    """The requests of one call: those of the caller, and those a service principal makes (resource policies)."""

    caller: list[Request] = field(default_factory=list)
    services: list[tuple[str, Request]] = field(default_factory=list)  # (service principal, request)
    on_behalf: list[tuple[Principal, Request]] = field(default_factory=list)  # (passed role, request)
    assumes: list[tuple[str, str, Request]] = field(default_factory=list)  # (role ARN, service principal, request)

    def assume(self, role_arn: str, service: str, context: dict[str, Any]) -> None:
        self.assumes.append((role_arn, service, Request.of("sts:AssumeRole", [role_arn], context)))

    def add(self, action: str, resources: list[str], context: dict[str, Any] | None = None) -> None:
        if not has_resource_level_permissions(action):
            resources = ["*"]  # no resource types: IAM sees "*" whatever the call names
        self.caller.append(Request.of(action, resources, context))


class CallMap:
    """(service, operation, parameters) -> IAM requests, for the resources of one synthesised env."""

    def __init__(self, assembly: Assembly) -> None:
        self.assembly = assembly
        self.machine_arn, self.machine_key = self._state_machine()
        self.encrypted = self._encrypted_resources()
        self.glue_tables = self._glue_tables()
        self.workgroups = self._workgroups()
        self.written_objects: list[str] = []  # "bucket/key" of the objects the mapped calls wrote, in order
        self._iterator_stream = ""  # the stream of the last GetShardIterator (GetRecords names none)

    # ------------------------------------------------------------------------------- env facts

    def _state_machine(self) -> tuple[str, str | None]:
        for stack in self.assembly.templates:
            for logical_id, machine in self.assembly.resources(stack, "AWS::StepFunctions::StateMachine").items():
                encryption = machine["Properties"].get("EncryptionConfiguration", {})
                key = self.assembly.resolve(stack, encryption.get("KmsKeyId")) if encryption.get("KmsKeyId") else None
                return self.assembly.arn(stack, logical_id), key
        raise AssertionError("no state machine in the assembly")

    def _encrypted_resources(self) -> dict[str, str]:
        """ARN of every resource encrypted with a customer managed key -> that key's ARN."""
        found: dict[str, str] = {}
        keys = {
            self.assembly.attribute(stack, logical_id, "Ref"): self.assembly.arn(stack, logical_id)
            for stack in self.assembly.templates
            for logical_id in self.assembly.resources(stack, "AWS::KMS::Key")
        }

        def key_arn(value: str) -> str:
            return keys.get(value, value)

        for stack in self.assembly.templates:
            for logical_id, resource in self.assembly.resources(stack).items():
                props, type_name = resource.get("Properties", {}), resource["Type"]
                key = None
                if type_name == "AWS::DynamoDB::Table" and props.get("SSESpecification", {}).get("KMSMasterKeyId"):
                    key = props["SSESpecification"]["KMSMasterKeyId"]
                elif type_name in ("AWS::SQS::Queue", "AWS::SNS::Topic") and props.get("KmsMasterKeyId"):
                    key = props["KmsMasterKeyId"]
                elif type_name == "AWS::Kinesis::Stream" and props.get("StreamEncryption", {}).get("KeyId"):
                    key = props["StreamEncryption"]["KeyId"]
                elif type_name == "AWS::S3::Bucket":
                    for rule in props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", []):
                        default = rule.get("ServerSideEncryptionByDefault", {})
                        if default.get("SSEAlgorithm") == "aws:kms" and default.get("KMSMasterKeyID"):
                            key = default["KMSMasterKeyID"]
                elif type_name == "AWS::Scheduler::Schedule" and props.get("KmsKeyArn"):
                    key = props["KmsKeyArn"]
                elif type_name == "AWS::Logs::LogGroup" and props.get("KmsKeyId"):
                    key = props["KmsKeyId"]
                if key is not None:
                    found[self.assembly.arn(stack, logical_id)] = key_arn(self.assembly.resolve(stack, key))
        return found

    def _glue_tables(self) -> dict[tuple[str, str], tuple[str, dict[str, tuple[str, ...]]]]:
        """(database, table) -> the S3 location its data is read from, or its location template and the values
        of its enum projections (projected_locations picks the partitions a query reads)."""
        tables = {}
        for stack in self.assembly.templates:
            for table in self.assembly.resources(stack, "AWS::Glue::Table").values():
                props = self.assembly.resolve(stack, table["Properties"])
                parameters = props["TableInput"].get("Parameters", {})
                template = parameters.get("storage.location.template")
                enums = {
                    key: tuple(parameters[f"projection.{key}.values"].split(","))
                    for key in re.findall(r"\$\{([^}]+)\}", template or "")
                    if parameters.get(f"projection.{key}.type") == "enum"
                }
                location = template or props["TableInput"]["StorageDescriptor"]["Location"]
                tables[(props["DatabaseName"], props["TableInput"]["Name"])] = (location, enums)
        return tables

    def _workgroups(self) -> dict[str, str]:
        """Athena workgroup -> its results location."""
        groups = {}
        for stack in self.assembly.templates:
            for group in self.assembly.resources(stack, "AWS::Athena::WorkGroup").values():
                props = self.assembly.resolve(stack, group["Properties"])
                location = props.get("WorkGroupConfiguration", {}).get("ResultConfiguration", {}).get("OutputLocation")
                groups[props["Name"]] = location
        return groups

    def deployed(self, arn: str) -> str:
        machine = self.machine_arn.rsplit(":", 1)[-1]
        for pattern, replacement in _HARNESS_ALIASES:
            arn = pattern.sub(replacement.format(machine=machine), arn)
        return arn

    # -------------------------------------------------------------------------------------- KMS

    def _kms(
        self,
        requests: Requests,
        resource_arn: str,
        service: str,
        context: dict[str, str],
        *actions: str,
        via_service: bool = True,
    ) -> None:
        """What `service` asks KMS with the caller's credentials for a resource under a customer managed key
        (kms:ViaService is set when the service calls on the caller's behalf; `via_service=False` when the
        service calls KMS itself with a role it assumed)."""
        key = self.encrypted.get(resource_arn)
        if key is None:
            return
        for action in actions:
            context_keys = {
                **({"kms:ViaService": f"{service}.{REGION}.amazonaws.com"} if via_service else {}),
                "kms:CallerAccount": ACCOUNT,
                **{f"kms:EncryptionContext:{k}": v for k, v in context.items()},
                "kms:EncryptionContextKeys": sorted(context),
            }
            requests.add(action, [key], context_keys)

    def _s3_kms(self, requests: Requests, bucket: str, *actions: str) -> None:
        # With an S3 Bucket Key the encryption context is the bucket ARN, not the object's
        # (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html#bucket-key-changes).
        self._kms(requests, bucket_arn(bucket), "s3", {"aws:s3:arn": bucket_arn(bucket)}, *actions)

    def _states_kms(self, requests: Requests, machine_arn: str, *actions: str) -> None:
        if self.machine_key:
            self.encrypted.setdefault(self.machine_arn, self.machine_key)
        self._kms(requests, machine_arn, "states", {"aws:states:stateMachineArn": machine_arn}, *actions)

    # ------------------------------------------------------------------------------------- mapping

    def requests(self, call: Call) -> Requests:
        handler = getattr(self, f"_{call.service.replace('-', '_')}", None)
        out = Requests()
        if handler is None:
            raise NotModelled(f"no IAM mapping for {call.service} calls ({call.operation})")
        handler(out, call.operation, call.params)
        for request in out.caller:
            if request.action == "s3:PutObject" and request.resources[0].startswith("arn:aws:s3:::"):
                self.written_objects.append(request.resources[0].removeprefix("arn:aws:s3:::"))
        if not out.caller and not out.services and not out.assumes:
            raise NotModelled(f"no IAM mapping for {call.service}:{call.operation}")
        return out

    def _dynamodb(self, out: Requests, operation: str, p: dict[str, Any]) -> None:
        if operation in ("BatchWriteItem", "BatchGetItem"):  # one request per table it names, as that table's
            for name in p["RequestItems"]:
                out.add(f"dynamodb:{operation}", [f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"])
                context = {"aws:dynamodb:tableName": name, "aws:dynamodb:subscriberId": ACCOUNT}
                self._kms(out, f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}", "dynamodb", context, "kms:Decrypt")
            return
        table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{p['TableName']}"
        resource = f"{table}/index/{p['IndexName']}" if p.get("IndexName") else table
        if operation not in {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "DescribeTable"}:
            raise NotModelled(f"dynamodb:{operation}")
        out.add(f"dynamodb:{operation}", [resource])
        # DynamoDB decrypts the table key with the caller's credentials; encryption context per
        # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/encryption.howitworks.html
        context = {"aws:dynamodb:tableName": p["TableName"], "aws:dynamodb:subscriberId": ACCOUNT}
        self._kms(out, table, "dynamodb", context, "kms:Decrypt")

    def _s3(self, out: Requests, operation: str, p: dict[str, Any]) -> None:
        if operation == "ListBuckets":
            out.add("s3:ListAllMyBuckets", ["*"])
            return
        bucket = p["Bucket"]
        reads = {"GetObject": "s3:GetObject", "HeadObject": "s3:GetObject"}
        writes = {"PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"}
        if operation in reads:
            out.add(reads[operation], [object_arn(bucket, p["Key"])])
            self._s3_kms(out, bucket, "kms:Decrypt")
        elif operation in writes:
            out.add("s3:PutObject", [object_arn(bucket, p["Key"])])
            # multipart parts need Decrypt too (https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html)
            actions = (
                ("kms:GenerateDataKey",) if operation in ("PutObject", "CreateMultipartUpload") else ("kms:Decrypt",)
            )
            self._s3_kms(out, bucket, *actions)
        elif operation in ("CopyObject", "UploadPartCopy"):
            source = p["CopySource"]
            source_bucket, source_key = (
                (source["Bucket"], source["Key"]) if isinstance(source, dict) else source.lstrip("/").split("/", 1)
            )
            out.add("s3:GetObject", [object_arn(source_bucket, source_key)])
            out.add("s3:PutObject", [object_arn(bucket, p["Key"])])
            self._s3_kms(out, source_bucket, "kms:Decrypt")
            self._s3_kms(out, bucket, "kms:GenerateDataKey" if operation == "CopyObject" else "kms:Decrypt")
        elif operation in ("ListObjectsV2", "ListObjects", "HeadBucket"):
            out.add("s3:ListBucket", [bucket_arn(bucket)], {"s3:prefix": p.get("Prefix", "")})
        elif operation == "AbortMultipartUpload":
            out.add("s3:AbortMultipartUpload", [object_arn(bucket, p["Key"])])
        elif operation == "DeleteObject":
            out.add("s3:DeleteObject", [object_arn(bucket, p["Key"])])
        elif operation == "GetBucketLocation":
            out.add("s3:GetBucketLocation", [bucket_arn(bucket)])
        else:
            raise NotModelled(f"s3:{operation}")

    def _sns(self, out: Requests, operation: str, p: dict[str, Any]) -> None:
        if operation != "Publish":
            raise NotModelled(f"sns:{operation}")
        topic = self.deployed(p["TopicArn"])
        out.add("sns:Publish", [topic])
        # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html: publishers need both
        self._kms(out, topic, "sns", {"aws:sns:topicArn": topic}, "kms:GenerateDataKey", "kms:Decrypt")

    def _events(self, out: Requests, operation: str, p: dict[str, Any]) -> None:
        if operation != "PutEvents":
            raise NotModelled(f"events:{operation}")
        for entry in p["Entries"]:
            bus = entry.get("EventBusName", "default")
            bus_arn = bus if bus.startswith("arn:") else f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{bus}"
            out.add("events:PutEvents", [bus_arn], {"events:source": entry.get("Source", "")})

    def _sqs(self, out: Requests, operation: str, p: dict[str, Any]) -> None:
        queue = queue_arn(p["QueueUrl"])
        actions = {
            "SendMessage": "sqs:SendMessage",
            "SendMessageBatch": "sqs:SendMessage",
            "ReceiveMessage": "sqs:ReceiveMessage",
            "DeleteMessage": "sqs:DeleteMessage",
            "DeleteMessageBatch": "sqs:DeleteMessage",
            "ChangeMessageVisibility": "sqs:ChangeMessageVisibility",
            "GetQueueAttributes": "sqs:GetQueueAttributes",
        }
        if operation not in actions:
            raise NotModelled(f"sqs:{operation}")
        out.add(actions[operation], [queue])
        # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html
        kms = ("kms:GenerateDataKey", "kms:Decrypt") if actions[operation] == "sqs:SendMessage" else ("kms:Decrypt",)
        if operation.startswith(("Delete", "ChangeMessageVisibility", "GetQueueAttributes")):
            kms = ()
        self._kms(out, queue, "sqs", {"aws:sqs:arn": queue}, *kms)

    def _kinesis(self, out: Requests, operation: str, p: dict[str, Any]) -> None:
        if "StreamARN" in p or "StreamName" in p:
            stream = p.get("StreamARN") or f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{p['StreamName']}"
            self._iterator_stream = stream
        else:  # GetRecords with only a ShardIterator: the stream of the GetShardIterator call before it
            stream = self._iterator_stream
        out.add(f"kinesis:{operation}", [stream])
        if operation == "GetRecords":
            self._kms(out, stream, "kinesis", {"aws:kinesis:arn": stream}, "kms:Decrypt")

    def _stepfunctions(self, out: Requests, operation: str, p: dict[str, Any]) -> None:
        if "executionArn" in p:
            execution = self.deployed(p["executionArn"])
            out.add(f"states:{operation}", [execution])
            machine = machine_of_execution(execution)
        elif "stateMachineArn" in p:
            machine = self.deployed(p["stateMachineArn"])
            out.add(f"states:{operation}", [machine])
        else:
            out.add(f"states:{operation}", ["*"])
            return
        # Execution input and history are encrypted with the state machine's key: starting (or redriving) an
        # execution encrypts new data (GenerateDataKey); reading them back decrypts, unless the call asks for
        # metadata only (DescribeExecution includedData=METADATA_ONLY, GetExecutionHistory
        # includeExecutionData=false: "callers must have kms:Decrypt permission" otherwise, API reference).
        if operation in ("StartExecution", "RedriveExecution", "StartSyncExecution"):
            self._states_kms(out, machine, "kms:GenerateDataKey")
        elif operation in ("DescribeExecution", "DescribeStateMachine"):
            if p.get("includedData") != "METADATA_ONLY":
                self._states_kms(out, machine, "kms:Decrypt")
        elif operation == "GetExecutionHistory":
            if p.get("includeExecutionData", True):
                self._states_kms(out, machine, "kms:Decrypt")

    def _scheduler(self, out: Requests, operation: str, p: dict[str, Any]) -> None:
        if operation == "GetSchedule":
            arn = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{p.get('GroupName', 'default')}/{p['Name']}"
            out.add("scheduler:GetSchedule", [arn])
            # the target input comes back decrypted: Scheduler calls Decrypt with the caller's credentials
            self._kms(out, arn, "scheduler", {"aws:scheduler:schedule:arn": arn}, "kms:Decrypt")
        elif operation == "_InvokeTarget":
            # Scheduler decrypts the target input with the schedule's role (a session of the role it assumed, so no
            # kms:ViaService) before it calls the target
            # (https://docs.aws.amazon.com/scheduler/latest/UserGuide/encryption-rest.html)
            arn = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{p.get('GroupName', 'default')}/{p['Name']}"
            context = {"aws:scheduler:schedule:arn": arn}
            self._kms(out, arn, "scheduler", context, "kms:Decrypt", via_service=False)
            # Scheduler assumes the schedule's role naming this account and the schedule's group
            # (https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html#setting-up-execution-role)
            group = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/{p.get('GroupName', 'default')}"
            out.assume(p["RoleArn"], "scheduler.amazonaws.com", {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": group})
        elif operation == "ListSchedules":
            out.add("scheduler:ListSchedules", ["*"])
        else:
            raise NotModelled(f"scheduler:{operation}")

    def _lambda(self, out: Requests, operation: str, p: dict[str, Any]) -> None:
        if operation == "_AssumeExecutionRole":
            # Lambda sends no aws:SourceArn/aws:SourceAccount when it assumes an execution role
            out.assume(p["RoleArn"], "lambda.amazonaws.com", {})
            return
        if operation != "Invoke":
            raise NotModelled(f"lambda:{operation}")
        name = p["FunctionName"]
        arn = name if name.startswith("arn:") else f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        out.add("lambda:InvokeFunction", [arn])

    def _ssm(self, out: Requests, operation: str, p: dict[str, Any]) -> None:
        names = p.get("Names") or [p["Name"]]
        if operation not in ("GetParameter", "GetParameters", "PutParameter", "DeleteParameter"):
            raise NotModelled(f"ssm:{operation}")
        # a parameter ARN names the parameter without its leading "/"
        out.add(f"ssm:{operation}", [f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{n.lstrip('/')}" for n in names])
        if p.get("Type") == "SecureString" or p.get("KeyId"):
            raise NotModelled("SecureString parameters (KMS through SSM) are not modelled")

    def _logs(self, out: Requests, operation: str, p: dict[str, Any]) -> None:
        if operation not in ("CreateLogStream", "PutLogEvents"):
            raise NotModelled(f"logs:{operation}")
        group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{p['logGroupName']}"
        out.add(f"logs:{operation}", [f"{group}:log-stream:{p['logStreamName']}"])
        key = self.encrypted.get(f"{group}:*")
        if key and operation == "PutLogEvents":
            # CloudWatch Logs encrypts with its own service principal, allowed by the key policy only
            # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html)
            context = {"kms:EncryptionContext:aws:logs:arn": group, "aws:SourceAccount": ACCOUNT}
            for action in ("kms:GenerateDataKey", "kms:Decrypt"):
                out.services.append((f"logs.{REGION}.amazonaws.com", Request.of(action, [key], context)))

    def _cloudformation(self, out: Requests, operation: str, p: dict[str, Any]) -> None:
        if operation != "DescribeStacks":
            raise NotModelled(f"cloudformation:{operation}")
        # A stack ARN ends in the id CloudFormation assigned at creation.
        stack = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{p['StackName']}/5e9ad5a0-c7e1-11ee-9a52-0a1b2c3d4e5f"
        out.add("cloudformation:DescribeStacks", [stack])

    def _personalize_runtime(self, out: Requests, operation: str, p: dict[str, Any]) -> None:
        # The Service Authorization Reference lists the campaign as GetRecommendations' resource type; a filter
        # in the request is not authorized separately.
        if operation not in ("GetRecommendations", "GetPersonalizedRanking"):
            raise NotModelled(f"personalize-runtime:{operation}")
        out.add(f"personalize:{operation}", [p["campaignArn"]])

    def _personalize_events(self, out: Requests, operation: str, p: dict[str, Any]) -> None:
        out.add(f"personalize:{operation}", ["*"])

    _PERSONALIZE_CREATES = {
        "CreateDatasetImportJob": ("dataset-import-job", "jobName"),
        "CreateSolution": ("solution", "name"),
        "CreateCampaign": ("campaign", "name"),
        "CreateBatchInferenceJob": ("batch-inference-job", "jobName"),
        "CreateFilter": ("filter", "name"),
    }
    _PERSONALIZE_TARGETS = {
        "CreateSolutionVersion": "solutionArn",
        "UpdateSolution": "solutionArn",
        "DescribeSolution": "solutionArn",
        "DescribeSolutionVersion": "solutionVersionArn",
        "GetSolutionMetrics": "solutionVersionArn",
        "DescribeCampaign": "campaignArn",
        "UpdateCampaign": "campaignArn",
        "DescribeDatasetImportJob": "datasetImportJobArn",
        "DescribeBatchInferenceJob": "batchInferenceJobArn",
        "DescribeFilter": "filterArn",
        "DeleteFilter": "filterArn",
        "DescribeDatasetGroup": "datasetGroupArn",
        "DescribeDataset": "datasetArn",
        "DescribeEventTracker": "eventTrackerArn",
    }

    def _personalize(self, out: Requests, operation: str, p: dict[str, Any]) -> None:
        action = f"personalize:{operation}"
        if operation in self._PERSONALIZE_CREATES:
            kind, name_key = self._PERSONALIZE_CREATES[operation]
            out.add(action, [f"arn:aws:personalize:{REGION}:{ACCOUNT}:{kind}/{p[name_key]}"])
        elif operation in self._PERSONALIZE_TARGETS:
            out.add(action, [p[self._PERSONALIZE_TARGETS[operation]]])
        elif not has_resource_level_permissions(action):
            out.add(action, ["*"])
        else:
            raise NotModelled(action)
        if "roleArn" in p:
            out.add("iam:PassRole", [p["roleArn"]], {"iam:PassedToService": "personalize.amazonaws.com"})
            self._personalize_on_behalf(out, operation, p)

    def _personalize_on_behalf(self, out: Requests, operation: str, p: dict[str, Any]) -> None:
        """What Personalize then does with the passed role and as its service principal: read the import file or
        batch input, write the batch output (https://docs.aws.amazon.com/personalize/latest/dg/granting-personalize-s3-access.html)."""
        role = self.assembly.role(p["roleArn"])
        reads: list[tuple[str, str]] = []
        writes: list[tuple[str, str]] = []
        if operation == "CreateDatasetImportJob":
            reads.append(s3_parts(p["dataSource"]["dataLocation"]))
        elif operation == "CreateBatchInferenceJob":
            bucket, prefix = s3_parts(p["jobInput"]["s3DataSource"]["path"])
            reads.append((bucket, prefix.rstrip("/") + "/part-00000") if prefix.endswith("/") else (bucket, prefix))
            out_bucket, out_prefix = s3_parts(p["jobOutput"]["s3DataDestination"]["path"])
            writes.append((out_bucket, out_prefix.rstrip("/") + "/part-00000.out"))
        # the confused-deputy keys Personalize sends: this account and the job it works for
        kind, name_key = self._PERSONALIZE_CREATES[operation]
        job_arn = f"arn:aws:personalize:{REGION}:{ACCOUNT}:{kind}/{p[name_key]}"
        source = {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": job_arn, "aws:SecureTransport": True}
        out.assume(p["roleArn"], "personalize.amazonaws.com", {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": job_arn})
        for bucket, key in reads:
            for action, resource in (("s3:ListBucket", bucket_arn(bucket)), ("s3:GetObject", object_arn(bucket, key))):
                out.on_behalf.append((role, Request.of(action, [resource], {"aws:SecureTransport": True})))
                out.services.append(("personalize.amazonaws.com", Request.of(action, [resource], source)))
            self._role_kms(out, role, bucket, "kms:Decrypt")
        for bucket, key in writes:
            for action, resource in (("s3:ListBucket", bucket_arn(bucket)), ("s3:PutObject", object_arn(bucket, key))):
                out.on_behalf.append((role, Request.of(action, [resource], {"aws:SecureTransport": True})))
                out.services.append(("personalize.amazonaws.com", Request.of(action, [resource], source)))
            self._role_kms(out, role, bucket, "kms:GenerateDataKey")

    def _role_kms(self, out: Requests, role: Principal, bucket: str, action: str) -> None:
        scratch = Requests()
        self._s3_kms(scratch, bucket, action)
        out.on_behalf += [(role, request) for request in scratch.caller]

    def _glue(self, out: Requests, operation: str, p: dict[str, Any]) -> None:
        """Table and partition calls: Glue authorises the catalog, the database and the table they name (Service
        Authorization Reference, AWS Glue: each of these actions lists the catalog, database and table types)."""
        table_operations = {"GetTable", "GetPartitions", "GetPartition", "BatchCreatePartition", "BatchUpdatePartition"}
        if operation not in table_operations:
            raise NotModelled(f"glue:{operation}")
        database, table = p["DatabaseName"], p.get("TableName") or p["Name"]
        out.add(
            f"glue:{operation}",
            [
                f"arn:aws:glue:{REGION}:{ACCOUNT}:catalog",
                f"arn:aws:glue:{REGION}:{ACCOUNT}:database/{database}",
                f"arn:aws:glue:{REGION}:{ACCOUNT}:table/{database}/{table}",
            ],
        )

    def _athena(self, out: Requests, operation: str, p: dict[str, Any]) -> None:
        if operation == "StartQueryExecution":
            group = p.get("WorkGroup", "primary")
        else:
            # the env has one workgroup; its queries are read back in it
            group = next(iter(self.workgroups), "primary")
        out.add(f"athena:{operation}", [f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/{group}"])
        if operation == "StartQueryExecution":
            self._athena_reads(out, p)
            unload = re.search(r"\bTO\s+'(s3://[^']+)'", p["QueryString"], re.IGNORECASE)
            if unload:  # UNLOAD writes its files under TO with the caller's credentials
                bucket, prefix = s3_parts(unload.group(1))
                out.add("s3:GetBucketLocation", [bucket_arn(bucket)])
                out.add("s3:PutObject", [object_arn(bucket, prefix.rstrip("/") + "/part-00000")])
                self._s3_kms(out, bucket, "kms:GenerateDataKey")
            location = self.workgroups.get(group)
            if location:  # query results and metadata, written with the caller's credentials
                bucket, prefix = s3_parts(location)
                out.add("s3:GetBucketLocation", [bucket_arn(bucket)])
                out.add("s3:PutObject", [object_arn(bucket, prefix + "query-id.csv")])
                self._s3_kms(out, bucket, "kms:GenerateDataKey")
        elif operation == "GetQueryResults":
            location = self.workgroups.get(group)
            if location:
                bucket, prefix = s3_parts(location)
                out.add("s3:GetObject", [object_arn(bucket, prefix + "query-id.csv")])
                self._s3_kms(out, bucket, "kms:Decrypt")

    def _athena_reads(self, out: Requests, p: dict[str, Any]) -> None:
        """The Glue tables the SQL reads and their S3 data (https://docs.aws.amazon.com/athena/latest/ug/
        fine-grained-access-to-glue-resources.html: catalog, database and table are all authorised)."""
        database = p.get("QueryExecutionContext", {}).get("Database", "default")
        sql = p["QueryString"]
        catalog = f"arn:aws:glue:{REGION}:{ACCOUNT}:catalog"
        database_arn = f"arn:aws:glue:{REGION}:{ACCOUNT}:database/{database}"
        out.add("glue:GetDatabase", [catalog, database_arn])
        # A WITH query's name hides a table of the same name: only a qualified reference reads the table then.
        defined = {name.lower() for name in re.findall(r'(?:\bWITH|,)\s*"?(\w+)"?\s+AS\s*\(', sql, re.IGNORECASE)}
        for (table_database, table), (location, enums) in self.glue_tables.items():
            qualifier = rf'"?{re.escape(database)}"?\.' + ("" if table.lower() in defined else "?")
            named = rf'\b(FROM|JOIN)\s+({qualifier})"?{re.escape(table)}\b'
            if table_database != database or not re.search(named, sql, re.IGNORECASE):
                continue
            out.add(
                "glue:GetTable", [catalog, database_arn, f"arn:aws:glue:{REGION}:{ACCOUNT}:table/{database}/{table}"]
            )
            locations = projected_locations(location, enums, sql) if "${" in location else [location]
            for bucket, prefix in map(s3_parts, locations):
                out.add("s3:GetBucketLocation", [bucket_arn(bucket)])
                out.add("s3:ListBucket", [bucket_arn(bucket)], {"s3:prefix": prefix})
                # the objects under the table's location that earlier calls wrote, else one export file
                written = [o for o in self.written_objects if o.startswith(f"{bucket}/{prefix}")]
                for key in [o.split("/", 1)[1] for o in written[-1:]] or [prefix + "export.csv"]:
                    out.add("s3:GetObject", [object_arn(bucket, key)])
                self._s3_kms(out, bucket, "kms:Decrypt")


# ------------------------------------------------------------------------------------ Lambda on our behalf


def function_by_handler(assembly: Assembly, stack: str, handler_prefix: str) -> tuple[str, dict[str, str], Caller]:
    """The one function of `stack` whose handler starts with `handler_prefix`: its logical id, its environment
    variables (intrinsics resolved) and the caller its role makes."""
    (function_id,) = [
        k
        for k, f in assembly.resources(stack, "AWS::Lambda::Function").items()
        if f["Properties"].get("Handler", "").startswith(handler_prefix)
    ]
    function = assembly.templates[stack]["Resources"][function_id]
    environment = assembly.resolve(stack, function["Properties"]["Environment"]["Variables"])
    return function_id, environment, Caller(function_id, assembly.role_of_function(stack, function_id))


def lambda_runtime_calls(assembly: Assembly, stack: str, function_id: str, caller: Caller) -> list[Call]:
    """What Lambda does with the function's execution role for every invocation: write its logs
    (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html#monitoring-cloudwatchlogs-prereqs)."""
    props = assembly.templates[stack]["Resources"][function_id]["Properties"]
    log_group = props.get("LoggingConfig", {}).get("LogGroup")
    group = (
        assembly.resolve(stack, log_group) if log_group else f"/aws/lambda/{assembly.physical_name(stack, function_id)}"
    )
    stream = "2026/11/15/[$LATEST]0123456789abcdef"
    return [Call(caller, "lambda", "_AssumeExecutionRole", {"RoleArn": caller.principal.arn})] + [
        Call(caller, "logs", operation, {"logGroupName": group, "logStreamName": stream})
        for operation in ("CreateLogStream", "PutLogEvents")
    ]


# ------------------------------------------------------------------------------------ event source mapping


def event_source_calls(assembly: Assembly, stack: str, function_id: str, caller: Caller) -> list[Call]:
    """What Lambda does with the function's role for its Kinesis event source mappings: read the stream and
    send failed batches' metadata to the on-failure destination
    (https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html#events-kinesis-permissions)."""
    calls = []
    for mapping in assembly.resources(stack, "AWS::Lambda::EventSourceMapping").values():
        props = assembly.resolve(stack, mapping["Properties"])
        if props["FunctionName"] != assembly.physical_name(stack, function_id):
            continue
        stream = props["EventSourceArn"]
        for operation in ("DescribeStream", "DescribeStreamSummary", "ListShards", "GetShardIterator", "GetRecords"):
            calls.append(Call(caller, "kinesis", operation, {"StreamARN": stream}))
        destination = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination", "")
        if destination.startswith("arn:aws:sqs:"):
            _, _, _, region, account, name = destination.split(":")
            url = f"https://sqs.{region}.amazonaws.com/{account}/{name}"
            calls.append(Call(caller, "sqs", "SendMessage", {"QueueUrl": url}))
    assert calls, f"{function_id} has no event source mapping"
    return calls


# ----------------------------------------------------------------------------------------- state machine

# Task resources of the execution history -> (botocore service, operation)
_TASK_RESOURCES = {
    ("lambda", "invoke"): ("lambda", "Invoke"),
    ("sns", "publish"): ("sns", "Publish"),
    ("events", "putEvents"): ("events", "PutEvents"),
}


def state_machine_calls(history: list[dict[str, Any]], caller: Caller, machine_arn: str) -> list[Call]:
    """The calls the state machine's role makes for an execution: its tasks' service integrations (from the
    TaskScheduled events) and the state encryption of the execution itself."""
    calls = [
        Call(
            caller,
            "stepfunctions",
            "_ExecutionState",
            {"stateMachineArn": machine_arn, "RoleArn": caller.principal.arn},
        )
    ]
    for event in history:
        if event["type"] != "TaskScheduled":
            continue
        details = event["taskScheduledEventDetails"]
        service, operation = _TASK_RESOURCES[(details["resourceType"], details["resource"])]
        calls.append(Call(caller, service, operation, json.loads(details["parameters"])))
    return calls


def map_state_machine_state(call_map: CallMap, call: Call) -> Requests | None:
    """The execution's own state under the state machine's key: Step Functions generates and decrypts data
    keys with the role's credentials (encryption context aws:states:stateMachineArn)."""
    if call.operation != "_ExecutionState":
        return None
    out = Requests()
    machine = call.params["stateMachineArn"]
    call_map._states_kms(out, machine, "kms:GenerateDataKey", "kms:Decrypt")
    # Step Functions assumes the state machine's role for the execution
    # (https://docs.aws.amazon.com/step-functions/latest/dg/procedure-create-iam-role.html)
    out.assume(call.params["RoleArn"], "states.amazonaws.com", {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": machine})
    return out


# ---------------------------------------------------------------------------------------------- checking


@dataclass
class Refusal:
    caller: str
    call: str
    request: Request
    why: str

    def line(self) -> str:
        return f"{self.caller}: {self.call}: {self.request.describe()} -- refused: {self.why}"


def check(assembly: Assembly, call_map: CallMap, calls: list[Call]) -> tuple[list[Refusal], int]:
    """Every request of every call evaluated against its principal; (refusals, number of requests checked)."""
    refusals: list[Refusal] = []
    seen: set[tuple[str, Request]] = set()
    checked = 0
    for call in calls:
        requests = map_state_machine_state(call_map, call) or call_map.requests(call)
        evaluations: list[tuple[Principal, str, Request]] = [
            (call.caller.principal, call.caller.label, r) for r in requests.caller
        ]
        evaluations += [(role, f"{role.name} (passed by {call.caller.label})", r) for role, r in requests.on_behalf]
        evaluations += [
            (assembly.service(service), f"{service} (for {call.caller.label})", r) for service, r in requests.services
        ]
        for role_arn, service, request in requests.assumes:
            key = (service, request)
            if key in seen:
                continue
            seen.add(key)
            checked += 1
            decision = assembly.evaluate_assume(role_arn, service, request)
            if not decision.allowed:
                refusals.append(Refusal(f"{service} (for {call.caller.label})", call.operation, request, decision.why))
        for principal, label, request in evaluations:
            key = (label, request)
            if key in seen:
                continue
            seen.add(key)
            checked += 1
            decision = assembly.evaluate(principal, request)
            if not decision.allowed:
                refusals.append(Refusal(label, f"{call.service}:{call.operation}", request, decision.why))
    return refusals, checked
