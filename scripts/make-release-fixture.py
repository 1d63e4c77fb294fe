"""Writes a small dataset in the exact layout of the MET release (Gao, Liang, Guestrin 2024):

  samples/{model}-{dataset}-{source}-L={L}-{prompt id}.pkl
    local sources (fp32, int8, ...): a pickled numpy int64 array of token ids, one row per sample
    API sources (together, ...):     a pickled dict whose "samples" hold {"full_completion": str, ...}
  logprobs/{same name}.pkl:         a pickled dict {tuple of token ids: numpy float array}

with real pickle and numpy (protocols 4 and 5, numpy 1.x and 2.x module names appear in the wild),
plus expected.json: what each file holds, for the converter test to compare against.
Usage: PYTHONPATH=.tools/numpy python3 scripts/make-release-fixture.py OUT_DIR
"""
import json
import os
import pickle
import random
import sys

import numpy as np

out = sys.argv[1]
os.makedirs(f"{out}/samples", exist_ok=True)
os.makedirs(f"{out}/logprobs", exist_ok=True)
rng = random.Random(7)
model = "meta-llama-Meta-Llama-3-8B-Instruct"  # sanitize("meta-llama/Meta-Llama-3-8B-Instruct")
words = ["the", "river", "was", "older", "than", "town", "a", "cat", "sat", "on", "mat", "é", "日本"]
expected = {"model": model, "files": []}


def text(bias):
    return " ".join(rng.choice(words[bias:] if rng.random() < 0.7 else words) for _ in range(rng.randint(1, 8)))


for dataset, ids in [("wikipedia_en", [0, 1, 2]), ("humaneval", [0])]:
    for pid in ids:
        for source, bias in [("together", 0), ("amazon", 6)]:
            samples = [text(bias) for _ in range(6)]
            payload = {"samples": [{"full_completion": s, "finish_reason": "length"} for s in samples], "model": "meta-llama/Meta-Llama-3-8B-Instruct"}
            name = f"{model}-{dataset}-{source}-L=1000-{pid}"
            with open(f"{out}/samples/{name}.pkl", "wb") as f:
                pickle.dump(payload, f, protocol=4)
            expected["files"].append({"name": name, "kind": "api", "dataset": dataset, "prompt": pid, "source": source, "completions": samples})
        for source, protocol in [("fp32", 4), ("int8", 5)]:
            rows = np.array([[rng.randint(3, 500) for _ in range(10)] for _ in range(5)], dtype=np.int64)
            name = f"{model}-{dataset}-{source}-L=10-{pid}"
            with open(f"{out}/samples/{name}.pkl", "wb") as f:
                pickle.dump(rows, f, protocol=protocol)
            expected["files"].append({"name": name, "kind": "local", "dataset": dataset, "prompt": pid, "source": source, "tokenIds": rows.tolist()})
            if source == "fp32":
                logprobs = {tuple(int(t) for t in row): np.array([-rng.random() * 5 for _ in row], dtype=np.float32) for row in rows}
                with open(f"{out}/logprobs/{name}.pkl", "wb") as f:
                    pickle.dump(logprobs, f, protocol=4)
                expected["files"][-1]["logprobs"] = [[float(x) for x in logprobs[tuple(int(t) for t in row)]] for row in rows]

with open(f"{out}/expected.json", "w") as f:
    json.dump(expected, f, ensure_ascii=False)
print(f"wrote {len(expected['files'])} sample files to {out}")
