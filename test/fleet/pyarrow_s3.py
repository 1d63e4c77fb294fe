"""Reads a met corpus from an S3-compatible bucket with pyarrow (an independent Parquet reader) and
prints its sample and logprob row counts, distinct row keys and object count as JSON. Objects are
listed and fetched with boto3 (pyarrow's own S3 client stalls against moto's server: a GET or HEAD
now and then waits forever), then parsed by pyarrow from memory. Every object's `met-rows`
metadata must equal the rows pyarrow reads from it.

usage: pyarrow_s3.py ENDPOINT s3://BUCKET/PREFIX CORPUS
"""
import json
import os
import sys
from urllib.parse import unquote, urlparse

import boto3
import pyarrow as pa
import pyarrow.parquet as pq

endpoint, location, corpus = sys.argv[1:4]
url = urlparse(location)
bucket = url.netloc
prefix = url.path.strip("/")
base = f"{prefix}/corpus/{corpus}" if prefix else f"corpus/{corpus}"
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def read(kind, keys):
    """Every part-*.parquet object under the kind's folder: rows and distinct keys (partition values from the key)."""
    objects = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{base}/{kind}/"):
        objects += [o["Key"] for o in page.get("Contents", [])]
    objects = [k for k in objects if k.rsplit("/", 1)[-1].startswith("part-") and k.endswith(".parquet")]
    rows = 0
    distinct = set()
    for key in objects:
        partition = dict(unquote(level).split("=", 1) for level in key[len(base) + len(kind) + 2 :].split("/")[:-1])
        got = s3.get_object(Bucket=bucket, Key=key)
        table = pq.read_table(pa.BufferReader(got["Body"].read()), columns=[k for k in keys if k not in partition])
        if str(table.num_rows) != got["Metadata"].get("met-rows"):
            raise SystemExit(f"{key}: pyarrow reads {table.num_rows} rows, its met-rows metadata says {got['Metadata'].get('met-rows')}")
        rows += table.num_rows
        columns = {k: table.column(k).to_pylist() for k in table.column_names}
        for i in range(table.num_rows):
            distinct.add(tuple(partition[k] if k in partition else columns[k][i] for k in keys))
    return rows, len(distinct), len(objects)


samples, sample_keys, sample_files = read("samples", ["model", "source", "prompt_id", "sample_index"])
logprobs, logprob_keys, logprob_files = read("logprobs", ["scorer_model", "model", "source", "prompt_id", "sample_index"])
print(json.dumps({"samples": samples, "sampleKeys": sample_keys, "logprobs": logprobs, "logprobKeys": logprob_keys, "files": sample_files + logprob_files}))
# Skip the interpreter's teardown: with boto3's and Arrow's threads it now and then aborts there
# ("terminate called without an active exception", seen once in CI) after the answer is complete.
sys.stdout.flush()
os._exit(0)
