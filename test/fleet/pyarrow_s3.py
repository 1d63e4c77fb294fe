"""Reads a met corpus straight from an S3-compatible bucket with pyarrow (an independent reader)
and prints its sample and logprob row counts, distinct row keys and file count as JSON.

usage: pyarrow_s3.py ENDPOINT s3://BUCKET/PREFIX CORPUS
"""
import json
import sys
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

endpoint, location, corpus = sys.argv[1:4]
url = urlparse(location)
endpoint_url = urlparse(endpoint)
# moto answers one request at a time: generous timeouts.
fs = pafs.S3FileSystem(endpoint_override=endpoint_url.netloc, scheme=endpoint_url.scheme, region="us-east-1", connect_timeout=30, request_timeout=60)
base = f"{url.netloc}/{url.path.strip('/')}/corpus/{corpus}" if url.path.strip("/") else f"{url.netloc}/corpus/{corpus}"


def read(kind, keys):
    """Every part-*.parquet object under the kind's folder: rows and distinct keys (partition values from the key)."""
    selector = pafs.FileSelector(f"{base}/{kind}", recursive=True)
    infos = [f for f in fs.get_file_info(selector) if f.type == pafs.FileType.File and f.base_name.startswith("part-") and f.base_name.endswith(".parquet")]
    rows = 0
    distinct = set()
    for info in infos:
        partition = dict(unquote(level).split("=", 1) for level in info.path[len(base) + len(kind) + 2 :].split("/")[:-1])
        # One GET per file (a stream needs no HEAD first), read from memory.
        with fs.open_input_stream(info.path) as f:
            data = f.read()
        table = pq.read_table(pa.BufferReader(data), columns=[k for k in keys if k not in partition])
        rows += table.num_rows
        columns = {k: table.column(k).to_pylist() for k in table.column_names}
        for i in range(table.num_rows):
            distinct.add(tuple(partition[k] if k in partition else columns[k][i] for k in keys))
    return rows, len(distinct), len(infos)


samples, sample_keys, sample_files = read("samples", ["model", "source", "prompt_id", "sample_index"])
logprobs, logprob_keys, logprob_files = read("logprobs", ["scorer_model", "model", "source", "prompt_id", "sample_index"])
print(json.dumps({"samples": samples, "sampleKeys": sample_keys, "logprobs": logprobs, "logprobKeys": logprob_keys, "files": sample_files + logprob_files}))
sys.stdout.flush()
# Without this, Arrow's S3 client aborts at interpreter exit ("terminate called without an active exception").
pafs.finalize_s3()
