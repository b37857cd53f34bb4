"""Retro-match's SQL (retro_match.py) on Amazon Athena, over the upload hash log's Glue tables (template.yaml: UploadHashLogDatabase).

Probes are written as JSON lines under `retro_probes/run_id=<run>/` in the log bucket, which the
retro_probes table reads (partition projection, injected run_id). Parameters go to Athena as
ExecutionParameters, each as an SQL literal. Not run against Athena here (the local stack has
no query engine behind moto's Athena API): locally the same SQL runs on DuckDB.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Mapping, Sequence

from hashmatch.upload_log.retro_match import PROBES_TABLE

_NUMERIC = {"tinyint", "smallint", "integer", "bigint"}
_FLOATING = {"double", "float", "real", "decimal"}


class QueryFailed(RuntimeError):
    """Athena ended the query FAILED or CANCELLED (its reason in the message)."""


def literal(value: Any) -> str:
    """A query parameter as Athena's ExecutionParameters take it: an SQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def typed(value: str | None, kind: str) -> Any:
    """One cell of GetQueryResults (always text) as the column's type says."""
    if value is None:
        return None
    if kind in _NUMERIC:
        return int(value)
    if kind in _FLOATING:
        return float(value)
    if kind == "boolean":
        return value == "true"
    return value


def result_rows(pages: Sequence[Mapping[str, Any]]) -> list[dict]:
    """GetQueryResults pages as dicts (the first page's first row is the header)."""
    rows: list[dict] = []
    columns: list[tuple[str, str]] = []
    for number, page in enumerate(pages):
        result = page["ResultSet"]
        if not columns:
            columns = [(c["Name"], c["Type"].lower()) for c in result["ResultSetMetadata"]["ColumnInfo"]]
        data = result["Rows"][1:] if number == 0 else result["Rows"]
        for row in data:
            cells = [cell.get("VarCharValue") for cell in row["Data"]]
            rows.append({name: typed(cell, kind) for (name, kind), cell in zip(columns, cells)})
    return rows


class AthenaEngine:
    def __init__(self, athena, s3, *, workgroup: str, database: str, log_bucket: str, poll_seconds: float = 0.5, sleep: Callable[[float], None] = time.sleep):
        self.athena, self.s3 = athena, s3
        self.workgroup, self.database, self.log_bucket = workgroup, database, log_bucket
        self.poll_seconds, self.sleep = poll_seconds, sleep
        self.scanned_bytes = 0

    def put_probes(self, run_id: str, part: str, rows: Sequence[Mapping[str, Any]]) -> None:
        body = "\n".join(json.dumps({k: v for k, v in row.items() if k != "run_id"}, separators=(",", ":")) for row in rows)
        self.s3.put_object(Bucket=self.log_bucket, Key=f"{PROBES_TABLE}/run_id={run_id}/{part}.json", Body=body.encode(), ContentType="application/x-ndjson")

    def query(self, sql: str, parameters: Sequence[Any]) -> list[dict]:
        started = self.athena.start_query_execution(
            QueryString=sql,
            QueryExecutionContext={"Database": self.database},
            WorkGroup=self.workgroup,
            **({"ExecutionParameters": [literal(p) for p in parameters]} if parameters else {}),
        )
        query_id = started["QueryExecutionId"]
        while True:
            execution = self.athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            state = execution["Status"]["State"]
            if state == "SUCCEEDED":
                self.scanned_bytes += int(execution.get("Statistics", {}).get("DataScannedInBytes", 0))
                break
            if state in ("FAILED", "CANCELLED"):
                raise QueryFailed(f"Athena query {query_id} {state}: {execution['Status'].get('StateChangeReason', '')}")
            self.sleep(self.poll_seconds)
        pages = self.athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id)
        return result_rows(list(pages))
