"""Production-hardening rules of issue 16 that AWS enforces but moto cannot emulate, checked on the template
as written and as the SAM translator turns it into CloudFormation. Each rule names its source."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import boto3
import pytest
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform

from amazon_sync.adapters.dynamodb import FEED_RECORD_DAYS
from tests.template.test_template import PARAMETERS, ROOT, resolve_conditions, template


def translate(parameters: dict[str, Any]) -> dict[str, Any]:
    """The template as CloudFormation receives it from `sam deploy` (code already uploaded), conditions applied."""
    from moto import mock_aws

    document = template()
    for name, resource in document["Resources"].items():
        for key in ("CodeUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = f"s3://artefacts/{name}.zip"
    with mock_aws():
        return resolve_conditions(transform(document, parameters, ManagedPolicyLoader(boto3.client("iam"))),
                                  parameters)


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return translate({**PARAMETERS, "AlarmEmail": "ops@example.com"})


def statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for policy in resource["Properties"].get("Policies", []):
        found.extend(policy["PolicyDocument"]["Statement"])
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_alarm_topic_key_lets_cloudwatch_publish(translated):
    """Finding 1. CloudWatch cannot use the AWS-managed alias/aws/sns key, whose policy cannot be changed;
    a customer-managed key must grant cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey*
    (https://repost.aws/knowledge-center/cloudwatch-configure-alarm-sns)."""
    resources = translated["Resources"]
    topic = resources["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    key_statements = resources["AlarmTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
    cloudwatch = [s for s in key_statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert len(cloudwatch) == 1
    assert {"kms:Decrypt", "kms:GenerateDataKey"} <= set(cloudwatch[0]["Action"])
    assert cloudwatch[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    # the key stays manageable: without PutKeyPolicy for the account CloudFormation refuses the key
    admin = [s for s in key_statements if "kms:PutKeyPolicy" in s["Action"]]
    assert admin and all("*" not in action for s in key_statements for action in s["Action"])
    topic_policy = resources["AlarmTopicPolicy"]["Properties"]
    assert topic_policy["Topics"] == [{"Ref": "AlarmTopic"}]
    publish = topic_policy["PolicyDocument"]["Statement"][0]
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and publish["Action"] == ["sns:Publish"]
    assert publish["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    for alarm in (r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"):
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_dead_letter_and_failed_invocations_alarm(translated):
    """Finding 9: a message in the notifications' dead-letter queue, or an asynchronous invoke that failed or
    was dropped (Lambda sends it to the OnFailure destination), raises an alarm."""
    resources = translated["Resources"]
    by_queue = {}
    for alarm in (r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"):
        if alarm.get("Namespace") == "AWS/SQS":
            by_queue[alarm["Dimensions"][0]["Value"]["Fn::GetAtt"][0]] = alarm
    assert set(by_queue) == {"NotificationDeadLetterQueue", "FailedInvocationQueue"}
    for alarm in by_queue.values():
        assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
    for function in ("ExportFunction", "AckFunction"):
        invoke_config = next(r["Properties"] for r in resources.values()
                             if r["Type"] == "AWS::Lambda::EventInvokeConfig"
                             and r["Properties"]["FunctionName"] == {"Ref": function})
        on_failure = invoke_config["DestinationConfig"]["OnFailure"]["Destination"]
        assert on_failure == {"Fn::GetAtt": ["FailedInvocationQueue", "Arn"]}
        role = resources[f"{function}Role"]
        sends = [s for s in statements(role) if "sqs:SendMessage" in as_list(s["Action"])]
        assert sends, f"{function} cannot send to its OnFailure destination"


def test_queue_visibility_is_six_times_the_ack_timeout_and_ack_concurrency_is_capped(translated):
    """Finding 9. AWS: "set the source queue's visibility timeout to at least six times the timeout that you
    configure on your function" (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html).
    The ESM's MaximumConcurrency (at least 2) stays below the function's reserved concurrency so the schedule
    is never starved, and the number of database connections is bounded."""
    resources = translated["Resources"]
    ack = resources["AckFunction"]["Properties"]
    assert resources["NotificationQueue"]["Properties"]["VisibilityTimeout"] >= 6 * ack["Timeout"]
    reserved = ack["ReservedConcurrentExecutions"]
    mapping = resources["AckNotifications"]["Properties"]
    assert 2 <= mapping["ScalingConfig"]["MaximumConcurrency"] < reserved <= 5
    assert resources["ExportFunction"]["Properties"]["ReservedConcurrentExecutions"] == 1


def test_state_and_documents_survive_a_stack_deletion(translated):
    """Finding 10: the state table (feeds in flight, batches) and the bucket (manifests) are retained when the
    stack is deleted or the resource replaced; the table also has deletion protection."""
    resources = translated["Resources"]
    for logical in ("StateTable", "DocumentBucket"):
        assert resources[logical]["DeletionPolicy"] == "Retain"
        assert resources[logical]["UpdateReplacePolicy"] == "Retain"
    assert resources["StateTable"]["Properties"]["DeletionProtectionEnabled"] is True


def test_documents_outlive_the_feed_records():
    """Finding 10: a feed's manifest is read until its feed is settled; feed records live FEED_RECORD_DAYS."""
    parameter = template()["Parameters"]["DocumentRetentionDays"]
    assert parameter["MinValue"] >= FEED_RECORD_DAYS
    assert parameter["Default"] >= parameter["MinValue"]


def test_query_only_on_the_index_and_no_unused_sqs_action(translated):
    """Finding 10: the code queries only gsi1 (adapters/dynamodb.py), and never changes message visibility."""
    for function in ("ExportFunction", "AckFunction"):
        for statement in statements(translated["Resources"][f"{function}Role"]):
            actions = as_list(statement["Action"])
            text = json.dumps(statement["Resource"])
            if "dynamodb:Query" in actions:
                assert "/index/gsi1" in text and actions == ["dynamodb:Query"], statement
            assert "sqs:ChangeMessageVisibility" not in actions


def test_secrets_encrypted_with_a_customer_key_can_be_read():
    """Finding 10: with SecretsKmsKeyArn the functions get kms:Decrypt on that key, only via Secrets Manager
    (https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html)."""
    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    with_key, without = translate({**PARAMETERS, "SecretsKmsKeyArn": key}), translate(PARAMETERS)
    for function in ("ExportFunction", "AckFunction"):
        role = with_key["Resources"][f"{function}Role"]
        decrypt = [s for s in statements(role) if "kms:Decrypt" in as_list(s["Action"])]
        assert len(decrypt) == 1 and decrypt[0]["Resource"] == {"Ref": "SecretsKmsKeyArn"}
        assert "secretsmanager." in json.dumps(decrypt[0]["Condition"]["StringEquals"]["kms:ViaService"])
        assert not [s for s in statements(without["Resources"][f"{function}Role"])
                    if "kms:Decrypt" in as_list(s["Action"])]


def test_the_template_never_enables_the_local_endpoint_switch():
    """Finding 6: SPAPI_ENDPOINT_URL / LWA_TOKEN_URL are honoured only with the local-development switch."""
    from amazon_sync.bootstrap import LOCAL_DEVELOPMENT

    text = json.dumps(template())
    for name in (LOCAL_DEVELOPMENT, "SPAPI_ENDPOINT_URL", "LWA_TOKEN_URL"):
        assert name not in text


def make_check_rds_ca(bundle) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "-s", "--no-print-directory", "check-rds-ca", f"RDS_CA={bundle}"], cwd=ROOT,
                          capture_output=True, text=True, check=False)


def test_a_deployable_build_needs_the_rds_ca_bundle(tmp_path):
    """Finding 11: `make build` / `make deploy` fetch the bundle when it is missing and refuse to build
    with a missing or broken one; the functions read it where the template says."""
    from amazon_sync_devkit.tls import make_server_certificates

    missing = make_check_rds_ca(tmp_path / "absent.pem")
    assert missing.returncode != 0 and "make rds-ca" in missing.stderr
    (tmp_path / "broken.pem").write_text("<html>an error page saved as the bundle</html>")
    assert make_check_rds_ca(tmp_path / "broken.pem").returncode != 0
    assert make_check_rds_ca(make_server_certificates(tmp_path).ca_file).returncode == 0
    makefile = (ROOT / "Makefile").read_text()
    bundle = re.search(r"^RDS_CA := layers/shared/(\S+)$", makefile, re.MULTILINE).group(1)
    ca_file = template()["Globals"]["Function"]["Environment"]["Variables"]["DB_TLS_CA_FILE"]
    assert ca_file == f"/opt/python/{bundle}"  # the layer's content lands under /opt/python
    build = makefile.split("\nbuild:", 1)[1].split("\n\n", 1)[0]
    assert "check-rds-ca" in build and "rds-ca" in build
    assert re.search(r"^deploy: build$", makefile, re.MULTILINE)
