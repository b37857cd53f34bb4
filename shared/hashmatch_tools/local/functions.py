"""The Lambda side of the local stack: what SAM's functions, layers and permissions become locally.

moto does not run functions (that needs Docker), so a function is not created in moto: it becomes a
FunctionSpec, everything LocalRunner (runner.py) needs to call its handler as Lambda would: code
directory and handler, environment resolved, timeout and memory, its SQS and DynamoDB stream event
sources, and its function URL, which the runner serves on 127.0.0.1 (function_urls.py). What SAM
generates beside a function and the template may name (<Function>Role, <Function>Url) is recorded
in stack.generated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hashmatch_tools.local.identities import LocalIdentity
from hashmatch_tools.local.resources import Creator, Resource, StackContext
from hashmatch_tools.local.server import ACCOUNT_ID, free_port
from hashmatch_tools.local.template import function_properties


@dataclass(frozen=True)
class EventSource:
    """An SQS event source mapping as SAM declares it."""

    queue_url: str
    queue_arn: str
    batch_size: int
    report_batch_item_failures: bool


@dataclass(frozen=True)
class StreamSource:
    """A DynamoDB stream event source mapping as SAM declares it."""

    stream_arn: str
    batch_size: int
    starting_position: str
    maximum_retry_attempts: int
    on_failure_queue_url: str | None
    bisect_on_error: bool = False  # BisectBatchOnFunctionError: a failed batch is halved and each half retried


@dataclass(frozen=True)
class ScheduleSource:
    """An EventBridge Scheduler schedule that invokes the function (SAM's ScheduleV2 event): its expression and input."""

    expression: str  # rate(N minutes) or cron(...)
    input: str | None  # the event's JSON text (None: the scheduler sends {})
    enabled: bool = True

    @property
    def seconds(self) -> float | None:
        """How often a rate() schedule fires; None for a cron() one."""
        found = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", self.expression.strip())
        if not found:
            return None
        unit = {"minute": 60, "hour": 3600, "day": 86400}[found.group(2).rstrip("s")]
        return int(found.group(1)) * unit


@dataclass(frozen=True)
class FunctionUrl:
    """A function URL (SAM's FunctionUrlConfig): where the runner serves it locally, and how callers authenticate."""

    url: str  # http://127.0.0.1:<port>/, with the trailing slash AWS's URLs have
    port: int
    auth_type: str  # AWS_IAM or NONE


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    timeout: int
    memory_size: int
    event_sources: tuple[EventSource, ...]
    stream_sources: tuple[StreamSource, ...] = ()
    function_url: FunctionUrl | None = None
    schedules: tuple[ScheduleSource, ...] = ()  # EventBridge (Schedule) and EventBridge Scheduler (ScheduleV2) schedules the runner fires
    identity: LocalIdentity | None = None  # its execution role's session: the keys its clients sign with


class FunctionStackContext(StackContext, Protocol):
    """What the function creators use of the stack besides what every creator does: the template and what they record in the stack."""

    template: dict
    template_path: Path
    resources: dict[str, Resource]  # created so far (an event source's queue is found by its ARN)
    generated: dict[str, Resource]  # what SAM adds beside a function: <Function>Role, <Function>Url
    functions: dict[str, FunctionSpec]
    permissions: list[dict]

    function_identities: dict[str, LocalIdentity]

    def function_role(self, function_id: str) -> Resource: ...


def create_layer(stack: FunctionStackContext, logical_id: str, properties: dict) -> Resource:
    # Locally every function runs in this interpreter, whose venv stands in for the layers.
    arn = f"arn:aws:lambda:{stack.region}:{ACCOUNT_ID}:layer:{logical_id}:1"
    return Resource(logical_id, "AWS::Serverless::LayerVersion", arn, {"Arn": arn})


def _queue_url_of(stack: FunctionStackContext, arn: str | None) -> str | None:
    return next((resource.physical_id for resource in stack.resources.values() if arn and resource.attributes.get("Arn") == arn), None)


def _stream_source(stack: FunctionStackContext, event_props: dict) -> StreamSource:
    destination = event_props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    destination_arn = stack.resolve(destination) if destination else None
    return StreamSource(
        stream_arn=stack.resolve(event_props["Stream"]),
        batch_size=int(event_props.get("BatchSize", 100)),
        starting_position=event_props.get("StartingPosition", "LATEST"),
        maximum_retry_attempts=int(event_props.get("MaximumRetryAttempts", -1)),
        on_failure_queue_url=_queue_url_of(stack, destination_arn),
        bisect_on_error=bool(stack.resolve(event_props.get("BisectBatchOnFunctionError", False))),
    )


def _queue_source(stack: FunctionStackContext, event_props: dict) -> EventSource:
    queue_arn = stack.resolve(event_props["Queue"])
    return EventSource(
        queue_url=next(resource.physical_id for resource in stack.resources.values() if resource.attributes.get("Arn") == queue_arn),
        queue_arn=queue_arn,
        batch_size=int(event_props.get("BatchSize", 10)),
        report_batch_item_failures="ReportBatchItemFailures" in event_props.get("FunctionResponseTypes", []),
    )


def create_function(stack: FunctionStackContext, logical_id: str, properties: dict) -> Resource:
    merged = function_properties(stack.template, logical_id)
    environment = {name: str(value) for name, value in stack.resolve(merged["Environment"]["Variables"]).items()}
    sources, streams, schedules = [], [], []
    for event_name, event in merged.get("Events", {}).items():
        event_props = event["Properties"]
        if event["Type"] == "DynamoDB":
            if stack.resolve(event_props.get("Enabled", True)):
                streams.append(_stream_source(stack, event_props))
        elif event["Type"] == "SQS":
            sources.append(_queue_source(stack, event_props))
        elif event["Type"] == "Schedule":
            schedules.append(ScheduleSource(str(stack.resolve(event_props["Schedule"])), event_props.get("Input"), bool(event_props.get("Enabled", True))))
            stack.deviate("EventBridge schedules: not created in moto; the runner fires them itself (LocalRunner.fire_schedules or run_scheduled, or its pollers every schedule_seconds)")
        elif event["Type"] == "ScheduleV2":
            schedules.append(ScheduleSource(str(stack.resolve(event_props["ScheduleExpression"])), event_props.get("Input"), str(event_props.get("State", "ENABLED")) == "ENABLED"))
            stack.deviate("EventBridge Scheduler schedules: not created in moto; the runner fires them itself (LocalRunner.fire_schedules, or its pollers every schedule_seconds)")
        else:
            raise NotImplementedError(f"{logical_id}.{event_name}: the local runner delivers SQS, DynamoDB stream and schedule events only")
    name = stack.default_name(logical_id)
    handler = merged.get("Handler", "app.lambda_handler")
    arn = f"arn:aws:lambda:{stack.region}:{ACCOUNT_ID}:function:{name}"
    stack.function_role(logical_id)
    identity = stack.function_identities[logical_id]
    function_url = None
    if "FunctionUrlConfig" in merged:
        port = free_port()
        auth_type = merged["FunctionUrlConfig"].get("AuthType", "AWS_IAM")
        function_url = FunctionUrl(f"http://127.0.0.1:{port}/", port, auth_type)
        stack.generated[f"{logical_id}Url"] = Resource(f"{logical_id}Url", "AWS::Lambda::Url", function_url.url, {"FunctionUrl": function_url.url, "FunctionArn": arn})
        stack.deviate(
            "function URLs: served over plain HTTP on 127.0.0.1 by the runner (runner.serve_function_urls); AWS_IAM checks the SigV4 signature "
            "against the stack's local identities (stack.identities) instead of IAM, and grants every one of them (no lambda:InvokeFunctionUrl policy is read)"
        )
    if "ReservedConcurrentExecutions" in merged:
        stack.deviate("ReservedConcurrentExecutions: not enforced (the runner calls handlers one at a time)")
    stack.functions[logical_id] = FunctionSpec(
        logical_id=logical_id,
        name=name,
        code_dir=(stack.template_path.parent / merged["CodeUri"]).resolve(),
        handler=handler,
        environment=environment,
        timeout=int(stack.resolve(merged.get("Timeout", 3))),
        memory_size=int(stack.resolve(merged.get("MemorySize", 128))),
        event_sources=tuple(sources),
        stream_sources=tuple(streams),
        function_url=function_url,
        schedules=tuple(schedules),
        identity=identity,
    )
    return Resource(logical_id, "AWS::Serverless::Function", name, {"Arn": arn})


def create_permission(stack: FunctionStackContext, logical_id: str, properties: dict) -> Resource:
    props = stack.resolve(properties)
    stack.permissions.append(props)
    stack.deviate(
        "AWS::Lambda::Permission: kept in stack.permissions, not evaluated (every local identity may call every function URL); "
        "a function that checks its caller (RestoreUploadFunction) refuses the others itself, as it does in AWS"
    )
    return Resource(logical_id, "AWS::Lambda::Permission", stack.default_name(logical_id))


FUNCTION_CREATORS: dict[str, Creator] = {
    "AWS::Serverless::LayerVersion": create_layer,
    "AWS::Serverless::Function": create_function,
    "AWS::Lambda::Permission": create_permission,
}
