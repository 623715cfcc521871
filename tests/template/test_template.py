"""template.yaml: transformed with the SAM translator, deployed to moto's CloudFormation, wiring checked;
and the dashboard and alarms checked against the metrics the code emits."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from amazon_sync.metrics import ALL_METRIC_NAMES, NAMESPACE

ROOT = Path(__file__).resolve().parents[2]
SP_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:sp-api-AbCdEf"
DB_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-db-AbCdEf"
PARAMETERS = {"SpApiSecretArn": SP_SECRET, "DatabaseSecretArn": DB_SECRET}
NO_VALUE = object()


def template() -> dict[str, Any]:
    return yaml_parse((ROOT / "template.yaml").read_text())


def resolve_conditions(document: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's own evaluation of Conditions, Fn::If and AWS::NoValue, which moto skips."""
    values = {name: parameters.get(name, spec.get("Default")) for name, spec in document["Parameters"].items()}

    def value(node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return values.get(arg, arg)
            if key == "Fn::Equals":
                return str(value(arg[0])) == str(value(arg[1]))
            if key == "Fn::Not":
                return not value(arg[0])
            if key == "Fn::Join":
                items = value(arg[1])
                return arg[0].join(items if isinstance(items, list) else str(items).split(","))
            if key == "Condition":
                return conditions[arg]
        return node

    conditions: dict[str, bool] = {}
    for name, expression in document.get("Conditions", {}).items():
        conditions[name] = bool(value(expression))

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                condition, when_true, when_false = node["Fn::If"]
                return walk(when_true if conditions[condition] else when_false)
            if node == {"Ref": "AWS::NoValue"}:
                return NO_VALUE
            out = {k: walk(v) for k, v in node.items()}
            return {k: v for k, v in out.items() if v is not NO_VALUE}
        if isinstance(node, list):
            return [item for item in (walk(v) for v in node) if item is not NO_VALUE]
        return node

    resources = {name: res for name, res in document["Resources"].items()
                 if conditions.get(res.get("Condition", ""), True)}
    outputs = {name: out for name, out in document.get("Outputs", {}).items()
               if conditions.get(out.get("Condition", ""), True)}
    resolved = walk({**document, "Resources": resources, "Outputs": outputs})
    resolved.pop("Conditions", None)
    for part in (resolved["Resources"], resolved["Outputs"]):
        for item in part.values():
            item.pop("Condition", None)
    return resolved


@pytest.fixture
def deployed(aws):
    """The stack as CloudFormation would create it, in moto."""
    document = template()
    for name, resource in document["Resources"].items():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if key in properties:
                properties[key] = f"s3://artefacts/{name}.zip"
    transformed = transform(document, PARAMETERS, ManagedPolicyLoader(boto3.client("iam")))
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="artefacts", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("handler.py", "def handler(event, context):\n    return {}\n")
    for name in document["Resources"]:
        s3.put_object(Bucket="artefacts", Key=f"{name}.zip", Body=archive.getvalue())
    resolved = resolve_conditions(transformed, PARAMETERS)
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(StackName="shop-sync", TemplateBody=json.dumps(resolved),
                                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in PARAMETERS.items()],
                                Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
    stack = cloudformation.describe_stacks(StackName="shop-sync")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                for r in cloudformation.list_stack_resources(StackName="shop-sync")["StackResourceSummaries"]}
    return transformed, resolved, physical


def function_config(physical, logical):
    return boto3.client("lambda").get_function_configuration(FunctionName=physical[logical])


def test_functions_are_wired_to_this_stacks_resources(deployed):
    transformed, _, physical = deployed
    for logical in ("ExportFunction", "AckFunction", "ReconcileFunction"):
        config = function_config(physical, logical)
        env = config["Environment"]["Variables"]
        assert env["STATE_TABLE"] == physical["StateTable"]
        assert env["IDEMPOTENCY_TABLE"] == physical["IdempotencyTable"]
        assert env["DOCUMENT_BUCKET"] == physical["DocumentBucket"]
        assert env["SPAPI_SECRET_ARN"] == SP_SECRET and env["DB_SECRET_ARN"] == DB_SECRET
        assert env["CONFIG_SOURCE"] == "ssm:/prestashop-amazon-sync/marketplaces"
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == NAMESPACE and env["POWERTOOLS_SERVICE_NAME"] == "shop-sync"
        assert config["Runtime"] == "python3.12"
        # moto does not keep Architectures: the translated resource says what Lambda will get
        assert transformed["Resources"][logical]["Properties"]["Architectures"] == ["arm64"]
        assert "VpcConfig" not in config or not config["VpcConfig"].get("SubnetIds")
    boto3.client("dynamodb").describe_table(TableName=physical["StateTable"])
    assert function_config(physical, "ExportFunction")["Handler"] == "export_handler.handler"
    mapping = boto3.client("lambda").list_event_source_mappings(FunctionName=physical["AckFunction"])
    assert mapping["EventSourceMappings"][0]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_every_policy_statement_names_only_this_stacks_resources(deployed):
    _, resolved, _ = deployed
    own = set(resolved["Resources"])
    for name, resource in resolved["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert all("*" not in action for action in actions), (name, actions)
                resources = statement["Resource"] if isinstance(statement["Resource"], list) else [
                    statement["Resource"]]
                for target in resources:
                    text = json.dumps(target)
                    refs = (set(re.findall(r'"Ref": "([A-Za-z0-9]+)"', text))
                            | set(re.findall(r'"Fn::GetAtt": \["([A-Za-z0-9]+)"', text))
                            | set(re.findall(r"\$\{([A-Za-z0-9]+)[.}]", text)))
                    parameters = {"SpApiSecretArn", "DatabaseSecretArn", "ConfigParameterName", "DatabaseResourceId",
                                  "DatabaseUser", "AWS"}
                    assert refs and refs <= own | parameters, (name, target)
                    assert text != '"*"', (name, statement)


def test_schedules_target_the_right_functions_with_the_scheduled_time(deployed):
    transformed, _, _ = deployed
    schedules = {name: r for name, r in transformed["Resources"].items() if r["Type"] == "AWS::Scheduler::Schedule"}
    assert len(schedules) == 3
    by_function = {s["Properties"]["Target"]["Arn"]["Fn::GetAtt"][0]: s["Properties"] for s in schedules.values()}
    for function in ("ExportFunction", "ReconcileFunction"):
        assert json.loads(by_function[function]["Target"]["Input"])["scheduledTime"] == \
            "<aws.scheduler.scheduled-time>"
    for properties in by_function.values():
        assert "Name" not in properties  # OmitName: two stacks can live in one account
        assert properties["Target"]["RetryPolicy"]["MaximumRetryAttempts"] >= 0


def test_export_runs_one_at_a_time_with_bounded_retries():
    resources = template()["Resources"]
    export = resources["ExportFunction"]["Properties"]
    assert export["ReservedConcurrentExecutions"] == 1
    assert export["EventInvokeConfig"]["MaximumRetryAttempts"] == 0


def test_bucket_is_private_encrypted_and_tls_only():
    resources = template()["Resources"]
    bucket = resources["DocumentBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    statement = resources["DocumentBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def dashboard_metrics() -> list[list[Any]]:
    body = template()["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    widgets = json.loads(body)["widgets"]
    return [metric for widget in widgets for metric in widget["properties"].get("metrics", [])]


def test_dashboard_and_alarms_use_only_metrics_the_code_emits():
    resources = template()["Resources"]
    custom = [m for m in dashboard_metrics() if m[0] == "${Namespace}"]
    assert {m[1] for m in custom} <= ALL_METRIC_NAMES
    assert all(m[2:4] == ["service", "${Service}"] for m in custom)  # Powertools' service dimension
    assert {"QueueDepth", "OldestPendingAgeSeconds", "FeedsInFlight", "OldestFeedInFlightAgeSeconds",
            "MessagesAccepted", "MessagesRejected", "Throttles"} <= {m[1] for m in custom}
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    # an alarm on one metric, or on metric math over several (the rejection rate)
    single = [a for a in alarms if "MetricName" in a]
    stats = [m["MetricStat"]["Metric"] for a in alarms for m in a.get("Metrics", []) if "MetricStat" in m]
    ours = [a for a in single if a["Namespace"] == {"Ref": "MetricsNamespace"}] + [
        m for m in stats if m["Namespace"] == {"Ref": "MetricsNamespace"}]
    assert {a["MetricName"] for a in ours} <= ALL_METRIC_NAMES
    assert all(a["Dimensions"] == [{"Name": "service", "Value": {"Ref": "AWS::StackName"}}] for a in ours)
    assert template()["Parameters"]["MetricsNamespace"]["Default"] == NAMESPACE
    assert {"OldestPendingAgeSeconds", "OldestFeedInFlightAgeSeconds", "MessagesRejected", "FailedRows",
            "FeedsNeedingAttention", "ExportFailures", "AckFailures", "BadEvents", "DriftSkus", "SkusFoughtOver",
            "SkusNotOnAmazon", "ReconcileFailures"} <= {a["MetricName"] for a in ours}
    assert "QueueDepth" not in {a["MetricName"] for a in ours}  # a busy shop is never at depth 0 at poll time
    assert sum(a.get("Namespace") == "AWS/Lambda" for a in alarms) == 3


def test_dashboard_shows_alarm_status_and_what_is_held_back():
    resources = template()["Resources"]
    body = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    widgets = json.loads(body)["widgets"]
    [alarm_widget] = [w for w in widgets if w["type"] == "alarm"]
    # every alarm that always exists (the dead-letter one exists with notifications only; its queue's depth
    # is graphed below)
    alarms = {name for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm" and "Condition" not in r}
    assert {a.rsplit(":alarm:${", 1)[1].removesuffix("}") for a in alarm_widget["properties"]["alarms"]} == alarms
    shown = {m[1] for m in dashboard_metrics()}
    assert {"FeedsAbandoned", "OfferErrors", "FeedsNeedingAttention", "ApproximateNumberOfMessagesVisible"} <= shown


def test_handlers_named_in_the_template_exist():
    resources = template()["Resources"]
    for logical in ("ExportFunction", "AckFunction", "ReconcileFunction"):
        properties = resources[logical]["Properties"]
        module, function = properties["Handler"].split(".")
        source = (ROOT / properties["CodeUri"] / f"{module}.py").read_text()
        assert f"def {function}(" in source


def test_sample_events_are_all_used_by_a_test():
    tests = "".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    for sample in (ROOT / "events").glob("*.json"):
        assert sample.name in tests, f"events/{sample.name} is not exercised by any test"
