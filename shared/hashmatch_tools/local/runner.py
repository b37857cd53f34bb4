"""Lambda's event source mappings, locally: poll each function's queues and streams and call its handler with the batch.

SQS as AWS does it: up to BatchSize messages per invocation, the record shape Lambda sends,
successes deleted, failures (an exception, or batchItemFailures when ReportBatchItemFailures is
on) left on the queue to come back after the visibility timeout, and the queue's redrive policy
moving them to the dead-letter queue after maxReceiveCount receives.

DynamoDB streams likewise: each shard read in order from its starting position, up to BatchSize
records per invocation in Lambda's record shape; a failed batch is retried (at once, locally)
up to MaximumRetryAttempts times, then described on the on-failure queue and skipped; with
BisectBatchOnFunctionError, a failed batch is halved and each half delivered on its own, so one
record that keeps failing is isolated and only it goes to the on-failure queue.

EventBridge schedules (SAM's Schedule and ScheduleV2) are fired by the runner: once on asking
(fire_schedules, run_scheduled), or by a poller every `schedule_seconds` (the template's rate is minutes: locally
the caller picks a shorter one). Like the scheduler's asynchronous invocation, a failed run is
recorded, not raised.

Each handler runs as its function's execution role: its clients sign with the role's local keys
(stack.function_identities), so the policy gate in front of moto knows which function writes.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import os
import sys
import threading
import time
import uuid
from unittest import mock
from dataclasses import dataclass, field
from typing import Any, Callable, TextIO

from hashmatch_tools.local.functions import EventSource, FunctionSpec, StreamSource
from hashmatch_tools.local.server import ACCOUNT_ID
from hashmatch_tools.local.stack import LocalStack

_SQS_RECEIVE_MAX = 10
STREAM_POLL_SECONDS = 0.25
# Handlers run one at a time, each with its function's environment variables set as Lambda
# sets them: os.environ and sys.stdout are process-wide, so two at once would see each other's.
_invoke_lock = threading.RLock()


class _ThreadOutput(io.TextIOBase):
    """sys.stdout once a runner has a log stream: a thread running a handler writes to its log, every other thread where it did before.

    contextlib.redirect_stdout would swap the process's stdout, so a poller in the background
    would carry the main thread's output (a demo's, a CLI's) into the handlers' log.
    """

    def __init__(self, default):
        self.default = default
        self.local = threading.local()

    def _target(self):
        return getattr(self.local, "target", None) or self.default

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def writable(self) -> bool:
        return True


# One for the process: a handler's logger keeps the stdout it found at import, so it must stay
# this object even when something (pytest's capture, say) swaps sys.stdout in between.
_ROUTER = _ThreadOutput(sys.stdout)


@contextlib.contextmanager
def _handler_output(log_stream: TextIO):
    """What this thread prints goes to `log_stream` until the block ends."""
    with _invoke_lock:
        if sys.stdout is not _ROUTER:
            _ROUTER.default = sys.stdout
            sys.stdout = _ROUTER
    previous = getattr(_ROUTER.local, "target", None)
    _ROUTER.local.target = log_stream
    try:
        yield
    finally:
        _ROUTER.local.target = previous


@dataclass
class LambdaContext:
    """The context object Lambda passes to a handler (the fields Powertools reads)."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    timeout: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout - (time.monotonic() - self._started)) * 1000))


def lambda_record(message: dict, source: EventSource, region: str) -> dict:
    """One received SQS message in the shape of a record of Lambda's SQS event."""
    attributes = {}
    for name, value in message.get("MessageAttributes", {}).items():
        attributes[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value["DataType"],
        }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": source.queue_arn,
        "awsRegion": region,
    }


def stream_record(record: dict, source: StreamSource, region: str) -> dict:
    """One DynamoDB stream record (the GetRecords shape) in the shape of a record of Lambda's DynamoDB event."""
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if created is not None and hasattr(created, "timestamp"):
        change["ApproximateCreationDateTime"] = created.timestamp()
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": change,
        "eventSourceARN": source.stream_arn,
    }


def _lambda_environment(spec: FunctionSpec) -> dict[str, str]:
    """What Lambda sets for the function: its environment variables, and its execution role's keys."""
    keys = {"AWS_ACCESS_KEY_ID": spec.identity.access_key, "AWS_SECRET_ACCESS_KEY": spec.identity.secret_key} if spec.identity is not None else {}
    return {**spec.environment, **keys}


@dataclass
class Invocation:
    function: str
    records: int
    failed: int
    seconds: float
    error: str | None = None


class LocalRunner:
    """Delivers queue batches to the functions of a LocalStack, and invokes functions directly."""

    def __init__(self, stack: LocalStack, *, log_stream: TextIO | None = None):
        # Lambda's runtime gives the root logger a handler of its own. Without one, the first module-level
        # logging.info (python-threatexchange's clients call it) would make one on stderr, and every
        # handler's log line would be printed there as well.
        if not logging.getLogger().handlers:
            logging.getLogger().addHandler(logging.NullHandler())
        self.stack = stack
        self.log_stream = log_stream  # where handlers' logs and metrics go; None: stdout
        self.invocations: list[Invocation] = []
        self._handlers: dict[str, Callable] = {}
        self._modules: dict[str, object] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._sqs = stack.client("sqs")
        self._streams = stack.client("dynamodbstreams")
        self._shard_iterators: dict[tuple[str, str, str], str | None] = {}  # (function, stream ARN, shard id) -> next iterator
        self._stream_lock = threading.Lock()  # one reader per shard, as Lambda has, also with pollers in the background
        self.function_urls: dict[str, Any] = {}  # logical id -> its FunctionUrlServer, while served

    # ------------------------------------------------------------ handlers

    def _output(self):
        return _handler_output(self.log_stream) if self.log_stream is not None else contextlib.nullcontext()

    def handler(self, function: str) -> Callable:
        """The function's handler, imported once with the function's own environment variables set and its role's keys."""
        if function not in self._handlers:
            import boto3

            spec = self.stack.functions[function]
            module_name, attribute = spec.handler.rsplit(".", 1)
            path = spec.code_dir / f"{module_name.replace('.', '/')}.py"
            with _invoke_lock, mock.patch.dict(os.environ, _lambda_environment(spec)), self._output():
                # A module name of this runner's own: a second runner (a test's stack of its own) imports the same
                # handler with its own clients and settings, and must not replace this one's in sys.modules.
                # boto3's default session keeps the credentials it first found: the module's clients get a session of their own.
                kept, boto3.DEFAULT_SESSION = boto3.DEFAULT_SESSION, None
                try:
                    loader_spec = importlib.util.spec_from_file_location(f"hashmatch_local_{function}_{id(self):x}", path)
                    module = importlib.util.module_from_spec(loader_spec)
                    sys.modules[loader_spec.name] = module
                    loader_spec.loader.exec_module(module)
                finally:
                    boto3.DEFAULT_SESSION = kept
            self._modules[function] = module
            self._handlers[function] = getattr(module, attribute)
        return self._handlers[function]

    def module(self, function: str):
        """This runner's imported handler module (for tests that look at its settings or clients)."""
        self.handler(function)
        return self._modules[function]

    def context(self, spec: FunctionSpec) -> LambdaContext:
        return LambdaContext(
            function_name=spec.name,
            memory_limit_in_mb=spec.memory_size,
            invoked_function_arn=f"arn:aws:lambda:{self.stack.region}:{ACCOUNT_ID}:function:{spec.name}",
            timeout=spec.timeout,
            log_group_name=f"/aws/lambda/{spec.name}",
        )

    def _call(self, spec: FunctionSpec, event: Any) -> Any:
        handler = self.handler(spec.logical_id)
        with _invoke_lock, mock.patch.dict(os.environ, _lambda_environment(spec)), self._output():
            return handler(event, self.context(spec))

    def run_scheduled(self, function: str) -> Any:
        """One scheduled invocation of a function with a Schedule event (EventBridge's event shape), as its rule would make."""
        spec = self.stack.functions[function]
        if not spec.schedules:
            raise ValueError(f"{function} has no Schedule event")
        event = {
            "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events", "account": ACCOUNT_ID,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "region": self.stack.region,
            "resources": [f"arn:aws:events:{self.stack.region}:{ACCOUNT_ID}:rule/{spec.name}"], "detail": {},
        }
        return self._call(spec, event)

    def invoke(self, function: str, event: Any) -> Any:
        """A direct (RequestResponse) invocation, as `aws lambda invoke` or `sam local invoke` does."""
        return self._call(self.stack.functions[function], event)

    # ------------------------------------------------------------ event source mappings

    def _receive(self, source: EventSource, wait_seconds: int) -> list[dict]:
        messages: list[dict] = []
        while len(messages) < source.batch_size:
            response = self._sqs.receive_message(
                QueueUrl=source.queue_url,
                MaxNumberOfMessages=min(_SQS_RECEIVE_MAX, source.batch_size - len(messages)),
                WaitTimeSeconds=wait_seconds if not messages else 0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            received = response.get("Messages", [])
            if not received:
                break
            messages.extend(received)
        return messages

    def poll(self, function: str, wait_seconds: int = 0) -> int:
        """One poll of each of the function's queues and one invocation per non-empty batch; returns messages taken."""
        spec = self.stack.functions[function]
        taken = 0
        for source in spec.event_sources:
            messages = self._receive(source, wait_seconds)
            if messages:
                self._deliver(spec, source, messages)
                taken += len(messages)
        for stream in spec.stream_sources:
            taken += self._poll_stream(spec, stream)
        return taken

    def _poll_stream(self, spec: FunctionSpec, source: StreamSource) -> int:
        """One GetRecords per shard of the stream and one invocation per non-empty batch; returns records taken."""
        with self._stream_lock:
            return self._read_stream(spec, source)

    def _read_stream(self, spec: FunctionSpec, source: StreamSource) -> int:
        taken = 0
        shards = self._streams.describe_stream(StreamArn=source.stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            # Each function reads the stream on its own, as each event source mapping does.
            position = (spec.logical_id, source.stream_arn, shard["ShardId"])
            if position not in self._shard_iterators:
                self._shard_iterators[position] = self._streams.get_shard_iterator(
                    StreamArn=source.stream_arn, ShardId=shard["ShardId"], ShardIteratorType=source.starting_position
                )["ShardIterator"]
            iterator = self._shard_iterators[position]
            if iterator is None:  # a closed shard, read to its end
                continue
            response = self._streams.get_records(ShardIterator=iterator, Limit=source.batch_size)
            self._shard_iterators[position] = response.get("NextShardIterator")
            records = response.get("Records", [])
            if records:
                self._deliver_stream(spec, source, shard["ShardId"], records)
                taken += len(records)
        return taken

    def _deliver_stream(self, spec: FunctionSpec, source: StreamSource, shard_id: str, records: list[dict]) -> None:
        event = {"Records": [stream_record(record, source, self.stack.region) for record in records]}
        attempts = 1 + (source.maximum_retry_attempts if source.maximum_retry_attempts >= 0 else 10_000)
        for attempt in range(attempts):
            started = time.perf_counter()
            try:
                self._call(spec, event)
            except Exception as exception:  # the batch failed: Lambda retries it, in order, before the shard moves on
                self.invocations.append(Invocation(spec.logical_id, len(records), len(records), time.perf_counter() - started, f"{type(exception).__name__}: {exception}"))
                if source.bisect_on_error and len(records) > 1:
                    # Lambda splits a failed batch in two and retries each half (its retries count down as it goes on).
                    half = len(records) // 2
                    self._deliver_stream(spec, source, shard_id, records[:half])
                    self._deliver_stream(spec, source, shard_id, records[half:])
                    return
                continue
            self.invocations.append(Invocation(spec.logical_id, len(records), 0, time.perf_counter() - started))
            return
        if source.on_failure_queue_url:
            sequence_numbers = [record["dynamodb"]["SequenceNumber"] for record in records]
            failure = {
                "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": attempts, "functionArn": self.context(spec).invoked_function_arn},
                "DDBStreamBatchInfo": {
                    "shardId": shard_id,
                    "startSequenceNumber": sequence_numbers[0],
                    "endSequenceNumber": sequence_numbers[-1],
                    "batchSize": len(records),
                    "streamArn": source.stream_arn,
                },
            }
            self._sqs.send_message(QueueUrl=source.on_failure_queue_url, MessageBody=json.dumps(failure))

    def _deliver(self, spec: FunctionSpec, source: EventSource, messages: list[dict]) -> None:
        event = {"Records": [lambda_record(message, source, self.stack.region) for message in messages]}
        started = time.perf_counter()
        error = None
        try:
            result = self._call(spec, event)
            failed_ids = set()
            if source.report_batch_item_failures and isinstance(result, dict):
                failed_ids = {failure["itemIdentifier"] for failure in result.get("batchItemFailures", [])}
        except Exception as exception:  # the whole batch failed, as when a Lambda invocation errors
            error = f"{type(exception).__name__}: {exception}"
            failed_ids = {message["MessageId"] for message in messages}
        done = [message for message in messages if message["MessageId"] not in failed_ids]
        for start in range(0, len(done), _SQS_RECEIVE_MAX):
            entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done[start : start + _SQS_RECEIVE_MAX])]
            self._sqs.delete_message_batch(QueueUrl=source.queue_url, Entries=entries)
        self.invocations.append(Invocation(spec.logical_id, len(messages), len(failed_ids), time.perf_counter() - started, error))

    def fire_schedules(self, functions: list[str] | None = None) -> list[Invocation]:
        """Fire each schedule of the functions (default: every scheduled one) once, as the scheduler invokes its target."""
        fired = []
        for name in functions or [name for name, spec in self.stack.functions.items() if spec.schedules]:
            spec = self.stack.functions[name]
            for schedule in spec.schedules:
                if not schedule.enabled:
                    continue
                started = time.perf_counter()
                try:
                    self._call(spec, json.loads(schedule.input) if schedule.input else {})
                    invocation = Invocation(name, 1, 0, time.perf_counter() - started)
                except Exception as exception:  # the scheduler's invocation is asynchronous: the error is the function's, recorded
                    invocation = Invocation(name, 1, 1, time.perf_counter() - started, f"{type(exception).__name__}: {exception}")
                self.invocations.append(invocation)
                fired.append(invocation)
        return fired

    def mapped_functions(self) -> list[str]:
        """The functions an event source mapping feeds (their queues or streams), as the pollers run them."""
        return [name for name, spec in self.stack.functions.items() if spec.event_sources or spec.stream_sources]

    def _pending(self, functions: list[str]) -> int:
        total = 0
        for function in functions:
            for source in self.stack.functions[function].event_sources:
                attributes = self._sqs.get_queue_attributes(
                    QueueUrl=source.queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
                )["Attributes"]
                total += int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
        return total

    def run_until_idle(self, timeout: float = 120.0, functions: list[str] | None = None) -> None:
        """Poll the functions' queues (default: all mapped) until they are empty, failed messages included
        (retried until they succeed or the redrive policy dead-letters them)."""
        functions = functions or self.mapped_functions()
        deadline = time.monotonic() + timeout
        while True:
            taken = sum(self.poll(function) for function in functions)
            if taken:
                continue
            if self._pending(functions) == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"queues still hold {self._pending(functions)} messages after {timeout:.0f} s")
            time.sleep(0.2)

    # ------------------------------------------------------------ in the background

    def start(self, wait_seconds: int = 1, functions: list[str] | None = None, schedule_seconds: float | None = None) -> "LocalRunner":
        """One poller thread per mapped function (default: all), long-polling like Lambda's pollers, until stop().

        With `schedule_seconds`, the scheduled functions among `functions` (default: all) are fired every that many seconds too.
        """
        self._stopping.clear()
        for function in functions or self.mapped_functions():
            if not (self.stack.functions[function].event_sources or self.stack.functions[function].stream_sources):
                continue
            self.handler(function)
            thread = threading.Thread(target=self._poll_forever, args=(function, wait_seconds), name=f"poller-{function}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if schedule_seconds is not None:
            for function in functions or [name for name, spec in self.stack.functions.items() if spec.schedules]:
                if self.stack.functions[function].schedules:
                    self.handler(function)
                    thread = threading.Thread(target=self._fire_forever, args=(function, schedule_seconds), name=f"scheduler-{function}", daemon=True)
                    thread.start()
                    self._threads.append(thread)
        return self

    def _fire_forever(self, function: str, seconds: float) -> None:
        while not self._stopping.wait(seconds):
            self.fire_schedules([function])

    def _poll_forever(self, function: str, wait_seconds: int) -> None:
        # Lambda reads a stream about four times a second; a queue is long-polled (wait_seconds).
        streams_only = not self.stack.functions[function].event_sources
        while not self._stopping.is_set():
            try:
                if not self.poll(function, wait_seconds) and streams_only:
                    self._stopping.wait(STREAM_POLL_SECONDS)
            except Exception as error:  # the endpoint going away at shutdown, for one
                if not self._stopping.is_set():
                    print(f"poller {function}: {type(error).__name__}: {error}", file=sys.stderr)
                    time.sleep(1)

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()

    # ------------------------------------------------------------ function URLs

    def serve_function_urls(self) -> "LocalRunner":
        """Serve every function URL of the stack over HTTP on 127.0.0.1 (function_urls.py), until stop_function_urls()."""
        from hashmatch_tools.local.function_urls import FunctionUrlServer

        for name, spec in self.stack.functions.items():
            if spec.function_url is not None and name not in self.function_urls:
                self.function_urls[name] = FunctionUrlServer(spec, self.invoke, self.stack.identities, self.stack.region).start()
        return self

    def stop_function_urls(self) -> None:
        for server in self.function_urls.values():
            server.stop()
        self.function_urls.clear()

    def __enter__(self) -> "LocalRunner":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@contextlib.contextmanager
def local_pipeline(parameters: dict[str, str] | None = None, log_stream: TextIO | None = None):
    """A started LocalStack and its LocalRunner, with the startup s3:TestEvent already consumed and its function URLs served."""
    with LocalStack(parameters=parameters) as stack:
        runner = LocalRunner(stack, log_stream=log_stream)
        runner.run_until_idle()
        runner.serve_function_urls()
        try:
            yield stack, runner
        finally:
            runner.stop()
            runner.stop_function_urls()
