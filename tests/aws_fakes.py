"""In-memory S3 and DynamoDB that behave like the boto3 calls the aws/ adapters make, so their unit tests need no endpoint.

Every request is checked against botocore's own service model (an unknown or missing parameter
fails as it would against AWS), answers carry the fields AWS answers with, and faults are
ClientErrors with AWS's error codes. A parameter the fakes accept but do not model raises
NotImplementedError rather than being ignored. What they leave out (IAM, Object Lock,
throttling) is for moto in the functional tier, or for botocore's Stubber on a real client
(`real_client`, `real_table`): the Stubber answers before any request is sent.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from functools import cache
from types import SimpleNamespace
from urllib.parse import quote, unquote

import boto3
import botocore.session
from boto3.dynamodb.conditions import AttributeExists, AttributeNotExists, ConditionBase, Equals, Key
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.validate import validate_parameters

REGION = "eu-west-1"


@cache
def _service_model(service: str):
    return botocore.session.get_session().get_service_model(service)


def client_error(code: str, operation: str, status: int = 400, message: str = "") -> ClientError:
    """A ClientError as botocore builds it from an AWS error response."""
    return ClientError(
        {"Error": {"Code": code, "Message": message or code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


def real_client(service: str):
    """A real boto3 client with dummy credentials, for botocore's Stubber (which answers before anything is sent)."""
    return _session().client(service)


def real_table(name: str):
    """A real boto3 DynamoDB Table resource, for a Stubber on `table.meta.client`."""
    return _session().resource("dynamodb").Table(name)


def _session():
    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)


def _now() -> datetime:
    # S3 and DynamoDB keep whole seconds.
    return datetime.now(timezone.utc).replace(microsecond=0)


# --------------------------------------------------------------------------- S3


@dataclass
class ObjectVersion:
    version_id: str
    body: bytes | None  # None: a delete marker
    content_type: str = "binary/octet-stream"
    metadata: dict = field(default_factory=dict)
    last_modified: datetime = field(default_factory=_now)

    @property
    def is_delete_marker(self) -> bool:
        return self.body is None

    @property
    def etag(self) -> str:
        return f'"{hashlib.md5(self.body or b"").hexdigest()}"'


@dataclass
class _Bucket:
    versioned: bool
    objects: dict[str, list[ObjectVersion]] = field(default_factory=dict)  # oldest version first


class FakeS3:
    """The S3 object calls the adapters make (put/get/head/copy/delete_object), on versioned or unversioned buckets.

    `requests` lists each call as (operation name, parameters), in order.
    """

    def __init__(self):
        self._buckets: dict[str, _Bucket] = {}
        self._version_ids = (f"{n:032x}" for n in itertools.count(0x5EED))
        self.requests: list[tuple[str, dict]] = []

    # Set-up and inspection (not S3 calls)

    @classmethod
    def with_bucket(cls, name: str, *, versioned: bool = True) -> "FakeS3":
        """A fake S3 holding one (empty) bucket."""
        fake = cls()
        fake.add_bucket(name, versioned=versioned)
        return fake

    def add_bucket(self, name: str, *, versioned: bool = True) -> str:
        self._buckets[name] = _Bucket(versioned)
        return name

    def current_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """The keys under `prefix` whose latest version is an object (not a delete marker), sorted."""
        objects = self._buckets[bucket].objects
        return sorted(key for key, versions in objects.items() if key.startswith(prefix) and versions and not versions[-1].is_delete_marker)

    def versions(self, bucket: str, key: str) -> list[ObjectVersion]:
        """Every version of the key, oldest first, delete markers included."""
        return list(self._bucket(bucket, "ListObjectVersions").objects.get(key, []))

    def operations(self) -> list[str]:
        return [operation for operation, _ in self.requests]

    # S3 calls

    def put_object(self, **params) -> dict:
        self._check("PutObject", params, honoured={"Bucket", "Key", "Body", "ContentType", "Metadata", "IfMatch", "IfNoneMatch"})
        current = self._buckets[params["Bucket"]].objects.get(params["Key"], []) if params["Bucket"] in self._buckets else []
        current = current[-1] if current and not current[-1].is_delete_marker else None
        if ("IfNoneMatch" in params and current is not None) or ("IfMatch" in params and (current is None or params["IfMatch"].strip('"') != current.etag.strip('"'))):
            raise client_error("PreconditionFailed", "PutObject", 412, "At least one of the pre-conditions you specified did not hold")
        body = params.get("Body", b"")
        if isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, (bytes, bytearray)):
            body = body.read()
        bucket = self._bucket(params["Bucket"], "PutObject")
        version = self._store(
            bucket,
            params["Key"],
            ObjectVersion(self._new_version_id(bucket), bytes(body), params.get("ContentType", "binary/octet-stream"), dict(params.get("Metadata", {}))),
        )
        return self._answer({"ETag": version.etag}, bucket, version)

    def get_object(self, **params) -> dict:
        self._check("GetObject", params, honoured={"Bucket", "Key", "VersionId", "IfMatch", "IfNoneMatch", "Range"})
        bucket, version = self._find("GetObject", params, head=False)
        if "IfNoneMatch" in params and params["IfNoneMatch"].strip('"') == version.etag.strip('"'):
            # S3 answers 304 with no body, so botocore's error code is the bare status.
            raise client_error("304", "GetObject", 304, "Not Modified")
        body = version.body
        ranged = {}
        if "Range" in params:
            # Only the "bytes=first-last" form the adapters send; S3 says which bytes of how many it gave.
            first, last = (int(part) for part in params["Range"].removeprefix("bytes=").split("-"))
            total, body = len(body), body[first : last + 1]
            ranged = {"ContentRange": f"bytes {first}-{first + len(body) - 1}/{total}"}
        return self._answer(
            {**self._headers(version), **ranged, "ContentLength": len(body), "Body": StreamingBody(io.BytesIO(body), len(body))},
            bucket,
            version,
        )

    def upload_file(self, Filename: str, Bucket: str, Key: str, ExtraArgs: dict | None = None) -> None:  # noqa: N803 (boto3's names)
        """boto3's managed upload, as one PutObject (the fake has no multipart parts)."""
        with open(Filename, "rb") as source:
            self.put_object(Bucket=Bucket, Key=Key, Body=source.read(), **(ExtraArgs or {}))

    def head_object(self, **params) -> dict:
        self._check("HeadObject", params, honoured={"Bucket", "Key", "VersionId", "IfMatch"})
        bucket, version = self._find("HeadObject", params, head=True)
        return self._answer(self._headers(version), bucket, version)

    def copy_object(self, **params) -> dict:
        self._check(
            "CopyObject",
            params,
            honoured={"Bucket", "Key", "CopySource", "MetadataDirective", "ContentType", "Metadata"},
            # Accepted but not modelled: encryption and checksums change nothing a test can read back.
            ignored={"ServerSideEncryption", "ChecksumAlgorithm"},
        )
        source = params["CopySource"]
        if isinstance(source, str):
            path, _, query = source.partition("?versionId=")
            source_bucket, _, source_key = unquote(path).partition("/")
            source = {"Bucket": source_bucket, "Key": source_key, **({"VersionId": query} if query else {})}
        source_bucket, original = self._find("CopyObject", source, head=False, copy_source=True)
        if params.get("MetadataDirective", "COPY") == "REPLACE":
            content_type, metadata = params.get("ContentType", "binary/octet-stream"), dict(params.get("Metadata", {}))
        else:
            content_type, metadata = original.content_type, dict(original.metadata)
        bucket = self._bucket(params["Bucket"], "CopyObject")
        version = self._store(bucket, params["Key"], ObjectVersion(self._new_version_id(bucket), original.body, content_type, metadata))
        answer = {"CopyObjectResult": {"ETag": version.etag, "LastModified": version.last_modified}}
        if source_bucket.versioned:
            answer["CopySourceVersionId"] = original.version_id
        return self._answer(answer, bucket, version)

    def delete_object(self, **params) -> dict:
        self._check("DeleteObject", params, honoured={"Bucket", "Key", "VersionId"})
        bucket = self._bucket(params["Bucket"], "DeleteObject")
        versions = bucket.objects.get(params["Key"], [])
        if "VersionId" in params:
            # Removes that version for good; S3 answers 204 whether or not it was there.
            removed = [v for v in versions if v.version_id == params["VersionId"]]
            versions[:] = [v for v in versions if v.version_id != params["VersionId"]]
            answer = {"VersionId": params["VersionId"]}
            if removed and removed[0].is_delete_marker:
                answer["DeleteMarker"] = True
            return self._answer(answer, None, None, status=204)
        if not bucket.versioned:
            bucket.objects.pop(params["Key"], None)
            return self._answer({}, None, None, status=204)
        marker = self._store(bucket, params["Key"], ObjectVersion(self._new_version_id(bucket), None))
        return self._answer({"DeleteMarker": True, "VersionId": marker.version_id}, None, None, status=204)

    # Behind the calls

    def _check(self, operation: str, params: dict, honoured: set[str], ignored: set[str] = frozenset()) -> None:
        self.requests.append((operation, dict(params)))
        checked = dict(params)
        if isinstance(checked.get("CopySource"), dict):
            # As botocore turns the dict into the header it sends.
            source = checked["CopySource"]
            checked["CopySource"] = f"{source['Bucket']}/{quote(source['Key'], safe='/~')}" + (
                f"?versionId={source['VersionId']}" if "VersionId" in source else ""
            )
        validate_parameters(checked, _service_model("s3").operation_model(operation).input_shape)
        unmodelled = set(params) - honoured - ignored
        if unmodelled:
            raise NotImplementedError(f"FakeS3.{operation} does not model {sorted(unmodelled)}")

    def _bucket(self, name: str, operation: str) -> _Bucket:
        if name not in self._buckets:
            raise client_error("NoSuchBucket", operation, 404, "The specified bucket does not exist")
        return self._buckets[name]

    def _new_version_id(self, bucket: _Bucket) -> str:
        return next(self._version_ids) if bucket.versioned else "null"

    def _store(self, bucket: _Bucket, key: str, version: ObjectVersion) -> ObjectVersion:
        versions = bucket.objects.setdefault(key, [])
        if not bucket.versioned:
            versions.clear()
        versions.append(version)
        return version

    def _find(self, operation: str, params: dict, *, head: bool, copy_source: bool = False) -> tuple[_Bucket, ObjectVersion]:
        def fault(code: str, status: int, message: str) -> ClientError:
            # A HEAD answer has no body, so botocore's error code is the bare status.
            return client_error(str(status) if head else code, operation, status, message)

        bucket = self._bucket(params["Bucket"], operation)
        versions = bucket.objects.get(params["Key"], [])
        wanted = params.get("VersionId")
        if wanted is None:
            if not versions or versions[-1].is_delete_marker:
                raise fault("NoSuchKey", 404, "The specified key does not exist.")
            version = versions[-1]
        else:
            found = [v for v in versions if v.version_id == wanted]
            if not found:
                raise fault("NoSuchVersion", 404, "The specified version does not exist.")
            version = found[0]
            if version.is_delete_marker:
                if copy_source:
                    raise fault("InvalidRequest", 400, "The source of a copy request may not specifically refer to a delete marker by version id.")
                raise fault("MethodNotAllowed", 405, "The specified method is not allowed against this resource.")
        if "IfMatch" in params and params["IfMatch"].strip('"') != version.etag.strip('"'):
            raise fault("PreconditionFailed", 412, "At least one of the pre-conditions you specified did not hold")
        return bucket, version

    @staticmethod
    def _headers(version: ObjectVersion) -> dict:
        return {
            "ContentLength": len(version.body),
            "ContentType": version.content_type,
            "ETag": version.etag,
            "LastModified": version.last_modified,
            "Metadata": dict(version.metadata),
        }

    @staticmethod
    def _answer(answer: dict, bucket: _Bucket | None, version: ObjectVersion | None, status: int = 200) -> dict:
        if bucket is not None and bucket.versioned:
            answer["VersionId"] = version.version_id
        answer["ResponseMetadata"] = {"HTTPStatusCode": status}
        return answer


# --------------------------------------------------------------------------- DynamoDB

_MAX_ITEM_BYTES = 400 * 1024
_BATCH_SIZE = 25


class FakeTable:
    """A DynamoDB Table resource: put/get/delete/update_item, batch_writer, and scan/query paginators on meta.client.

    Items go through boto3's own type serializer both ways, as they do over the wire: a float is
    refused (TypeError) and every number comes back a Decimal. Scans and queries answer
    `page_size` items a page, so a caller that reads one page only misses the rest.
    """

    def __init__(self, name: str, partition_key: str, sort_key: str | None = None, *, page_size: int = 100):
        self.name = name
        self.key_names = (partition_key,) + ((sort_key,) if sort_key else ())
        self.page_size = page_size
        self.meta = SimpleNamespace(client=_TableClient(self))
        self._items: dict[tuple, dict] = {}

    # Set-up and inspection (not DynamoDB calls)

    def all_items(self) -> list[dict]:
        """Every stored item as the resource would return it, in key order."""
        return [_decode(self._items[key]) for key in sorted(self._items, key=_sort_key)]

    # DynamoDB calls

    def put_item(self, **params) -> dict:
        _check_table_call("PutItem", params, honoured={"Item", "ConditionExpression", "ExpressionAttributeNames"})
        encoded = _encode(params["Item"])
        key = self._key(params["Item"], "PutItem")
        if _item_bytes(encoded) > _MAX_ITEM_BYTES:
            raise client_error("ValidationException", "PutItem", 400, "Item size has exceeded the maximum allowed size")
        if "ConditionExpression" in params:
            self._require(params["ConditionExpression"], params.get("ExpressionAttributeNames", {}), self._items.get(key), "PutItem")
        self._items[key] = encoded
        return _response({})

    def get_item(self, **params) -> dict:
        _check_table_call("GetItem", params, honoured={"Key", "ConsistentRead"})
        stored = self._items.get(self._key(params["Key"], "GetItem", exact=True))
        return _response({"Item": _decode(stored)} if stored is not None else {})

    def delete_item(self, **params) -> dict:
        _check_table_call("DeleteItem", params, honoured={"Key", "ReturnValues"})
        old = self._items.pop(self._key(params["Key"], "DeleteItem", exact=True), None)
        if params.get("ReturnValues") == "ALL_OLD" and old is not None:
            return _response({"Attributes": _decode(old)})
        return _response({})

    def update_item(self, **params) -> dict:
        _check_table_call("UpdateItem", params, honoured={"Key", "UpdateExpression", "ExpressionAttributeValues", "ExpressionAttributeNames"})
        key = self._key(params["Key"], "UpdateItem", exact=True)
        names = params.get("ExpressionAttributeNames", {})
        values = params.get("ExpressionAttributeValues", {})
        item = _decode(self._items[key]) if key in self._items else dict(params["Key"])
        expression = params["UpdateExpression"].strip()
        if match := re.fullmatch(r"ADD\s+(#?\w+)\s+(:\w+)", expression):
            name, value = names.get(match[1], match[1]), values[match[2]]
            item[name] = item.get(name, Decimal(0)) + value
        elif match := re.fullmatch(r"SET\s+(.+)", expression):
            for assignment in match[1].split(","):
                name, _, value = (part.strip() for part in assignment.partition("="))
                item[names.get(name, name)] = values[value]
        else:
            raise NotImplementedError(f"FakeTable.update_item does not model {expression!r}")
        self._items[key] = _encode(item)
        return _response({})

    def batch_writer(self) -> "_BatchWriter":
        return _BatchWriter(self)

    # Behind the calls

    def _key(self, item: dict, operation: str, *, exact: bool = False) -> tuple:
        if any(name not in item or item[name] in ("", None) for name in self.key_names) or (exact and set(item) != set(self.key_names)):
            raise client_error("ValidationException", operation, 400, "The provided key element does not match the schema")
        return tuple(item[name] for name in self.key_names)

    def _require(self, condition, names: dict, existing: dict | None, operation: str) -> None:
        if isinstance(condition, ConditionBase):
            expression = condition.get_expression()
            if not isinstance(condition, (AttributeExists, AttributeNotExists)):
                raise NotImplementedError(f"FakeTable does not model the condition {expression['operator']}")
            operator, attribute = expression["operator"], expression["values"][0].name
        else:
            match = re.fullmatch(r"\s*(attribute_exists|attribute_not_exists)\s*\(\s*(#?\w+)\s*\)\s*", condition)
            if not match:
                raise NotImplementedError(f"FakeTable does not model the condition {condition!r}")
            operator, attribute = match[1], names.get(match[2], match[2])
        present = existing is not None and attribute in existing
        if present != (operator == "attribute_exists"):
            raise client_error("ConditionalCheckFailedException", operation, 400, "The conditional request failed")

    def _pages(self, operation: str, params: dict):
        names = params.get("ExpressionAttributeNames", {})
        keys = sorted(self._items, key=_sort_key)
        if operation == "Query":
            partition_value = self._partition_value(params["KeyConditionExpression"], params.get("ExpressionAttributeValues", {}))
            keys = [key for key in keys if key[0] == partition_value]
            if params.get("ScanIndexForward", True) is False:
                keys.reverse()
        projection = [names.get(part.strip(), part.strip()) for part in params["ProjectionExpression"].split(",")] if "ProjectionExpression" in params else None
        found = [_decode(self._items[key]) for key in keys]
        if projection is not None:
            found = [{name: item[name] for name in projection if name in item} for item in found]
        for start in range(0, max(len(found), 1), self.page_size):
            page = found[start : start + self.page_size]
            answer = {"Items": page, "Count": len(page), "ScannedCount": len(page)}
            if start + self.page_size < len(found):
                answer["LastEvaluatedKey"] = {name: page[-1][name] for name in self.key_names}
            yield _response(answer)

    def _partition_value(self, condition, values: dict):
        if isinstance(condition, Equals):
            attribute, value = condition.get_expression()["values"]
            if isinstance(attribute, Key) and attribute.name == self.key_names[0]:
                return value
        elif isinstance(condition, str):
            match = re.fullmatch(r"\s*(\w+)\s*=\s*(:\w+)\s*", condition)
            if match and match[1] == self.key_names[0]:
                return values[match[2]]
        raise NotImplementedError(f"FakeTable queries only on partition key equality, not {condition!r}")


class _TableClient:
    """What the resource's own client (table.meta.client) offers the adapters: the scan and query paginators, BatchGetItem.

    `unprocessed_once` makes the next BatchGetItem answer its last key as unprocessed, as DynamoDB
    does when it throttles, so a caller must ask again.
    """

    def __init__(self, table: FakeTable):
        self._table = table
        self.unprocessed_once = False
        self.batch_gets = 0

    def batch_get_item(self, **params) -> dict:
        _check_table_call("BatchGetItem", params, honoured={"RequestItems"}, with_table_name=True)
        self.batch_gets += 1
        (name, request), = params["RequestItems"].items()
        if name != self._table.name:
            raise client_error("ResourceNotFoundException", "BatchGetItem", 400, "Requested resource not found")
        if len(request["Keys"]) > 100:
            raise client_error("ValidationException", "BatchGetItem", 400, "Too many items requested for the BatchGetItem call")
        keys, unprocessed = list(request["Keys"]), []
        if self.unprocessed_once and keys:
            keys, unprocessed, self.unprocessed_once = keys[:-1], keys[-1:], False
        names = request.get("ExpressionAttributeNames", {})
        projection = [names.get(part.strip(), part.strip()) for part in request["ProjectionExpression"].split(",")] if "ProjectionExpression" in request else None
        found = []
        for key in keys:
            stored = self._table._items.get(self._table._key(key, "BatchGetItem", exact=True))
            if stored is not None:
                item = _decode(stored)
                found.append({n: item[n] for n in projection if n in item} if projection else item)
        answer = {"Responses": {name: found}, "UnprocessedKeys": {name: {**request, "Keys": unprocessed}} if unprocessed else {}}
        return _response(answer)

    def get_paginator(self, operation_name: str) -> "_Paginator":
        operation = {"scan": "Scan", "query": "Query"}.get(operation_name)
        if operation is None:
            raise NotImplementedError(f"FakeTable has no {operation_name} paginator")
        return _Paginator(self._table, operation)


class _Paginator:
    def __init__(self, table: FakeTable, operation: str):
        self._table = table
        self._operation = operation

    def paginate(self, **params):
        honoured = {"TableName", "ConsistentRead", "ProjectionExpression", "ExpressionAttributeNames"}
        if self._operation == "Query":
            honoured |= {"KeyConditionExpression", "ExpressionAttributeValues", "ScanIndexForward"}
        _check_table_call(self._operation, params, honoured=honoured, with_table_name=True)
        if params["TableName"] != self._table.name:
            raise client_error("ResourceNotFoundException", self._operation, 400, "Requested resource not found")
        return self._table._pages(self._operation, params)


class _BatchWriter:
    """boto3's BatchWriter: puts and deletes buffered, sent 25 at a time and on leaving the block."""

    def __init__(self, table: FakeTable):
        self._table = table
        self._pending: list[tuple[str, dict]] = []

    def put_item(self, Item: dict) -> None:
        self._pending.append(("put", Item))
        self._flush_when_full()

    def delete_item(self, Key: dict) -> None:
        self._pending.append(("delete", Key))
        self._flush_when_full()

    def _flush_when_full(self) -> None:
        if len(self._pending) >= _BATCH_SIZE:
            self._flush()

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        keys = [self._table._key(item, "BatchWriteItem") for _, item in batch]
        if len(set(keys)) != len(keys):
            raise client_error("ValidationException", "BatchWriteItem", 400, "Provided list of item keys contains duplicates")
        for (action, item), key in zip(batch, keys):
            if action == "put":
                self._table.put_item(Item=item)
            else:
                self._table.delete_item(Key={name: item[name] for name in self._table.key_names})

    def __enter__(self) -> "_BatchWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        self._flush()


def _check_table_call(operation: str, params: dict, honoured: set[str], with_table_name: bool = False) -> None:
    """The Table resource adds TableName itself; every other parameter must be one DynamoDB knows."""
    known = set(_service_model("dynamodb").operation_model(operation).input_shape.members)
    unknown = set(params) - known - ({"TableName"} if with_table_name else set())
    if unknown or (not with_table_name and "TableName" in params):
        raise TypeError(f"{operation}: unknown parameters {sorted(unknown | ({'TableName'} & set(params)))}")
    unmodelled = set(params) - honoured
    if unmodelled:
        raise NotImplementedError(f"FakeTable {operation} does not model {sorted(unmodelled)}")


_serializer, _deserializer = TypeSerializer(), TypeDeserializer()


def _encode(item: dict) -> dict:
    return {name: _serializer.serialize(value) for name, value in item.items()}


def _decode(item: dict) -> dict:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def _item_bytes(encoded: dict) -> int:
    """An item's size as DynamoDB counts it, near enough: names plus values."""

    def size(value: dict) -> int:
        (kind, content), = value.items()
        if kind == "S":
            return len(content.encode())
        if kind == "N":
            return len(content) // 2 + 1
        if kind == "B":
            return len(content)
        if kind in ("L", "M"):
            members = content.values() if kind == "M" else content
            return 3 + sum(size(member) + 1 for member in members) + (sum(len(name.encode()) for name in content) if kind == "M" else 0)
        return 1

    return sum(len(name.encode()) + size(value) for name, value in encoded.items())


def _sort_key(key: tuple) -> tuple:
    return tuple((str(type(part)), part) for part in key)


def _response(answer: dict) -> dict:
    answer["ResponseMetadata"] = {"HTTPStatusCode": 200}
    return answer
