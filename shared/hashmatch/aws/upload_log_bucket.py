"""The upload hash log's bucket (S3): its Parquet files by table and day, copied for the DuckDB engine (the local stack)."""

from __future__ import annotations

import os

from hashmatch.upload_log.records import FRAMES_TABLE, UPLOADS_TABLE


def download_log(s3, bucket: str, since_day: str, directory: str) -> int:
    """Make `directory` a copy of the log's Parquet files of `since_day` onwards (the DuckDB engine's input): files
    already there are kept, files the bucket no longer has (or another bucket's) are removed. Returns the files fetched."""
    fetched, listed = 0, set()
    paginator = s3.get_paginator("list_objects_v2")
    for table in (UPLOADS_TABLE, FRAMES_TABLE):
        for page in paginator.paginate(Bucket=bucket, Prefix=f"{table}/dt="):
            for item in page.get("Contents", []):
                key = item["Key"]
                day = key.split("/")[1][len("dt=") :]
                if day < since_day or not key.endswith(".parquet"):
                    continue
                path = os.path.join(directory, key)
                listed.add(os.path.normpath(path))
                if os.path.exists(path) and os.path.getsize(path) == item["Size"]:
                    continue
                os.makedirs(os.path.dirname(path), exist_ok=True)
                s3.download_file(bucket, key, path)
                fetched += 1
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.normpath(os.path.join(root, name))
            if path not in listed:
                os.remove(path)
    return fetched


def query_engine(settings, s3, since_day: str, log_copy: str):
    """Where retro-match's SQL runs, as the settings say: Athena over the Glue tables, or DuckDB over a local copy of the log."""
    from hashmatch.aws.settings import RetroMatchEngine

    if settings.retro_match_engine == RetroMatchEngine.DUCKDB:
        from hashmatch.upload_log.duckdb_engine import DuckDbEngine

        download_log(s3, settings.upload_log_bucket, since_day, log_copy)
        return DuckDbEngine(log_copy)
    import boto3

    from hashmatch.aws.athena import AthenaEngine

    return AthenaEngine(boto3.client("athena"), s3, workgroup=settings.athena_workgroup, database=settings.athena_database, log_bucket=settings.upload_log_bucket)
