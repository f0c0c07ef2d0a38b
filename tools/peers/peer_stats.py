"""The summary statistics of docs/bench-schema.md, shared by the peer scripts: sample standard
deviation (n - 1) and numpy's default (linear) percentiles, as `fastvlm bench` computes them."""
import numpy as np


def stats(v):
    a = np.sort(np.asarray(v, dtype=np.float64))
    return {"n": int(a.size), "mean": float(a.mean()),
            "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
            "median": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "min": float(a[0]), "max": float(a[-1])}
