"""Retro-match's SQL (retro_match.py) on DuckDB, over the upload hash log's Parquet files in a local directory.

The directory holds what the log bucket holds (`uploads/dt=.../*.parquet`, `upload_frames/dt=.../*.parquet`);
the tables are views over those files with the day as a string column, as the Glue tables declare it.
Probes live in an in-memory table. DuckDB is a local and benchmark engine: no Lambda package carries it.
"""

from __future__ import annotations

import glob
import os
from typing import Any, Mapping, Sequence

from hashmatch.upload_log.retro_match import DUCKDB_COMPATIBILITY, PROBE_COLUMNS, PROBES_TABLE
from hashmatch.upload_log.records import FRAME_COLUMNS, FRAMES_TABLE, UPLOAD_COLUMNS, UPLOADS_TABLE

_SQL_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "int32": "INTEGER", "float64": "DOUBLE"}


def _columns(columns: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"{name} {_SQL_TYPES[kind]}" for name, kind in columns)


class DuckDbEngine:
    def __init__(self, log_directory: str | os.PathLike, threads: int | None = None):
        import duckdb

        self.log_directory = os.fspath(log_directory)
        self.connection = duckdb.connect()
        if threads:
            self.connection.execute(f"SET threads = {int(threads)}")
        for statement in DUCKDB_COMPATIBILITY:
            self.connection.execute(statement)
        self.connection.execute(f"CREATE TABLE {PROBES_TABLE} ({_columns(PROBE_COLUMNS)})")
        self.refresh()

    def files(self, table: str) -> list[str]:
        return sorted(glob.glob(os.path.join(self.log_directory, table, "dt=*", "*.parquet")))

    def refresh(self) -> None:
        """(Re)define the log tables over the files now in the directory."""
        for table, columns in ((UPLOADS_TABLE, UPLOAD_COLUMNS), (FRAMES_TABLE, FRAME_COLUMNS)):
            files = self.files(table)
            if files:
                pattern = os.path.join(self.log_directory, table, "dt=*", "*.parquet").replace("'", "''")
                source = f"read_parquet('{pattern}', hive_partitioning = true, hive_types = {{'dt': VARCHAR}}, union_by_name = true)"
                # The table names are this module's constants; the path is the engine's own directory, quoted.
                self.connection.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM {source}")  # nosec B608
            else:
                empty = ", ".join(f"CAST(NULL AS {_SQL_TYPES[kind]}) AS {name}" for name, kind in columns)
                self.connection.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM (SELECT {empty}, CAST(NULL AS VARCHAR) AS dt) WHERE false")  # nosec B608

    def put_probes(self, run_id: str, part: str, rows: Sequence[Mapping[str, Any]]) -> None:
        import pyarrow as pa

        kinds = ["upload"] if part == "candidates" else ["pdq", "digest"]
        # SQL below names this module's constant tables only; values are bound parameters.
        self.connection.execute(f"DELETE FROM {PROBES_TABLE} WHERE run_id = ? AND list_contains(?, kind)", [run_id, kinds])  # nosec B608
        schema = pa.schema([(name, getattr(pa, kind)()) for name, kind in PROBE_COLUMNS])
        self.connection.register("new_probes", pa.Table.from_pylist(list(rows), schema=schema))
        try:
            self.connection.execute(f"INSERT INTO {PROBES_TABLE} SELECT * FROM new_probes")  # nosec B608
        finally:
            self.connection.unregister("new_probes")

    def query(self, sql: str, parameters: Sequence[Any]) -> list[dict]:
        cursor = self.connection.execute(sql, list(parameters))
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def close(self) -> None:
        self.connection.close()
