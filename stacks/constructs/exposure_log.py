"""The exposure log's delivery: the serving function's log group -> a subscription filter keeping only exposure
lines -> a Firehose stream that decompresses the CloudWatch Logs payload, extracts the log messages and writes
them as JSON lines to the results bucket under `exposures/dt=YYYY-MM-DD/` (common.experiments; the report
catalogue's `exposures` table reads them).

Firehose developer guide, "Writing to Amazon Data Firehose Using CloudWatch Logs": "CloudWatch Logs events are
sent to Firehose in compressed gzip format. If you want to deliver decompressed log events to Firehose
destinations, you can use the decompression feature in Firehose to automatically decompress CloudWatch Logs."
Then the CloudWatchLogProcessing processor with DataMessageExtraction (CDK's CloudWatchLogProcessor: "The data
processor to extract message after decompression of CloudWatch Logs. This processor must used with
DecompressionProcessor"): only each event's `message`, the line serving.exposures wrote, reaches S3, without the
owner, log group and stream envelope (tests/serving/test_exposure_log.py runs a stand-in of the three steps).

Partitioned by day only, not by country: after message extraction one Firehose record holds every exposure of a
CloudWatch Logs batch, which may mix countries, and dynamic partitioning derives one key per record. The report
filters the country from the JSON; a day of exposures is small next to the interactions it is joined with.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from common.experiments import EXPOSURE_DAY, EXPOSURE_KEY, EXPOSURES_PREFIX
from stacks.config import EnvironmentConfig
from stacks.key_grants import key_statement, s3_context
from stacks.nag import accept_wildcards
from stacks.names import bucket_arn

# Only lines that are a JSON object holding an exposure (its experiment is always set); the handler's other log
# lines (Powertools JSON, the runtime's START/END/REPORT text) never match.
FILTER_PATTERN = logs.FilterPattern.exists(f"$.{EXPOSURE_KEY}.experiment").log_pattern_string
# A daily report reads the exposures: the largest buffers Firehose allows make the fewest objects.
BUFFER_INTERVAL_S = 900
BUFFER_SIZE_MB = 128
DELIVERY_PREFIX = f"{EXPOSURES_PREFIX}{EXPOSURE_DAY}=!{{timestamp:yyyy-MM-dd}}/"
# Records Firehose could not process or deliver, by error type and day (never under the table's prefix).
ERROR_PREFIX = "exposures-errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/"
ERROR_FOLDER = "exposures-errors/"
# Firehose's Processor parameter values (the CloudFormation schema's ProcessorParameter enum, checked by cfn-lint).
PROCESSORS: tuple[tuple[str, dict[str, str]], ...] = (
    ("Decompression", {"CompressionFormat": "GZIP"}),
    ("CloudWatchLogProcessing", {"DataMessageExtraction": "true"}),
    # One newline after each record, so the last line of one batch never runs into the first of the next.
    ("AppendDelimiterToRecord", {}),
)


class ExposureLog(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        log_group: logs.ILogGroup,
        encryption_key: kms.IKey,
        alarm_topic: sns.ITopic | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        results = bucket_arn(config, "results")
        # Named, so that the policies and the alarm name it by its ARN (the IAM oracle checks the resource type).
        self.stream_name = f"{config.name_prefix}-exposures"
        self.stream_arn = Stack.of(self).format_arn(
            service="firehose", resource="deliverystream", resource_name=self.stream_name
        )
        objects = [
            bucket_arn(config, "results", f"/{EXPOSURES_PREFIX}*"),
            bucket_arn(config, "results", f"/{ERROR_FOLDER}*"),
        ]
        self.delivery_role = iam.Role(
            self,
            "DeliveryRole",
            assumed_by=iam.ServicePrincipal(
                "firehose.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description=f"{config.env}: Firehose writes the exposure log to the results bucket",
        )
        # The S3 destination's permissions (Firehose guide, "Grant Firehose access to an Amazon S3 destination"),
        # object actions on the exposure and error prefixes only.
        self.delivery_role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteExposures",
                actions=["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
                resources=objects,
            )
        )
        self.delivery_role.add_to_policy(
            iam.PolicyStatement(
                sid="FindResultsBucket",
                actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                resources=[results],
            )
        )
        self.delivery_role.add_to_policy(
            key_statement(
                encryption_key,
                service="s3",
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=s3_context([results]),
                sid="EncryptExposures",
            )
        )
        accept_wildcards(
            self.delivery_role,
            resources=objects,
            reason="Firehose names each object by delivery time under the exposure and error prefixes only",
        )
        self.stream = firehose.CfnDeliveryStream(
            self,
            "Stream",
            delivery_stream_name=self.stream_name,
            delivery_stream_type="DirectPut",
            # The stream's own buffer; the objects in S3 use the env key (below).
            delivery_stream_encryption_configuration_input=firehose.CfnDeliveryStream.DeliveryStreamEncryptionConfigurationInputProperty(
                key_type="AWS_OWNED_CMK"
            ),
            extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=results,
                role_arn=self.delivery_role.role_arn,
                prefix=DELIVERY_PREFIX,
                error_output_prefix=ERROR_PREFIX,
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                    interval_in_seconds=BUFFER_INTERVAL_S, size_in_m_bs=BUFFER_SIZE_MB
                ),
                compression_format="GZIP",
                encryption_configuration=firehose.CfnDeliveryStream.EncryptionConfigurationProperty(
                    kms_encryption_config=firehose.CfnDeliveryStream.KMSEncryptionConfigProperty(
                        awskms_key_arn=encryption_key.key_arn
                    )
                ),
                processing_configuration=firehose.CfnDeliveryStream.ProcessingConfigurationProperty(
                    enabled=True,
                    processors=[
                        firehose.CfnDeliveryStream.ProcessorProperty(
                            type=kind,
                            parameters=[
                                firehose.CfnDeliveryStream.ProcessorParameterProperty(
                                    parameter_name=name, parameter_value=value
                                )
                                for name, value in parameters.items()
                            ]
                            or None,
                        )
                        for kind, parameters in PROCESSORS
                    ],
                ),
            ),
        )
        self.stream.node.add_dependency(self.delivery_role)
        # CloudWatch Logs puts the filtered batches into the stream with this role.
        self.subscription_role = iam.Role(
            self,
            "SubscriptionRole",
            assumed_by=iam.ServicePrincipal(
                "logs.amazonaws.com",
                conditions={
                    "StringLike": {"aws:SourceArn": f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:*"}
                },
            ),
            description=f"{config.env}: CloudWatch Logs sends exposure lines to the exposure stream",
        )
        self.subscription_role.add_to_policy(
            iam.PolicyStatement(
                sid="PutExposureLines",
                actions=["firehose:PutRecord", "firehose:PutRecordBatch"],
                resources=[self.stream_arn],
            )
        )
        self.subscription = logs.CfnSubscriptionFilter(
            self,
            "Subscription",
            log_group_name=log_group.log_group_name,
            filter_pattern=FILTER_PATTERN,
            destination_arn=self.stream.attr_arn,
            role_arn=self.subscription_role.role_arn,
        )
        self.subscription.node.add_dependency(self.subscription_role)
        # DeliveryToS3.Success is the share of S3 puts that succeeded; the alarm watches the failed share, so that
        # any period with a failed put alarms at once (a rare event: 1 of 1, missing data is not breaching).
        success = cloudwatch.Metric(
            namespace="AWS/Firehose",
            metric_name="DeliveryToS3.Success",
            dimensions_map={"DeliveryStreamName": self.stream_name},
            statistic="Minimum",
            period=Duration.minutes(15),
        )
        self.delivery_alarm = cloudwatch.Alarm(
            self,
            "DeliveryFailed",
            alarm_name=f"{config.name_prefix}-exposure-delivery-failed",
            alarm_description="The exposure log's Firehose stream failed to write to S3 (see the error prefix)",
            metric=cloudwatch.MathExpression(
                expression="1 - success",
                using_metrics={"success": success},
                label="failed S3 put share",
                period=success.period,
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        if alarm_topic is not None:  # the env's run-notification topic, like the pipeline's and ingest's alarms
            self.delivery_alarm.add_alarm_action(cw_actions.SnsAction(alarm_topic))
