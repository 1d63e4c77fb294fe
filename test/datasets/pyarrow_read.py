"""Reads one kind folder of a met corpus with pyarrow (an independent Parquet reader) and prints
its rows, Arrow schema and each file's met key-value metadata as JSON.

usage: pyarrow_read.py KIND_DIR [PARTITION_COLUMN ...]
"""
import base64
import datetime
import json
import math
import os
import sys

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq


def plain(value):
    if isinstance(value, datetime.datetime):
        return {"$date": value.astimezone(datetime.timezone.utc).isoformat()}
    if isinstance(value, float) and not math.isfinite(value):
        return {"$float": repr(value)}
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def main():
    kind_dir, partition_columns = sys.argv[1], sys.argv[2:]
    # Partition columns typed as strings, never inferred (a model named "2024" stays a string).
    partitioning = ds.partitioning(pa.schema([(c, pa.string()) for c in partition_columns]), flavor="hive") if partition_columns else None
    dataset = ds.dataset(kind_dir, format="parquet", partitioning=partitioning)
    table = dataset.to_table()
    metadata = {}
    for path in sorted(dataset.files):
        kv = pq.read_metadata(path).metadata or {}
        metadata[os.path.relpath(path, kind_dir)] = {k.decode(): v.decode() for k, v in kv.items() if k.startswith(b"met_")}
    json.dump(
        {
            "rows": [plain(r) for r in table.to_pylist()],
            "schema": {field.name: str(field.type) for field in table.schema},
            "metadata": metadata,
        },
        sys.stdout,
    )


main()
