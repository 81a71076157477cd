"""POT peer of ot.Exact (jkonet-gpu bench).

Usage: ot_emd.py DIR, where DIR holds args.json ({"n", "m", "d",
"num_itermax"}) and x.f64, y.f64 (the points, little-endian float64,
row-major), and optionally a.f64, b.f64 (the masses of the points, uniform
when absent). Builds M = ot.dist(x, y) (squared Euclidean), times one call
of ot.emd(a, b, M) alone, and prints one JSON object: {"seconds",
"cpu_seconds" (the process's CPU time in ot.emd), "cost" (Σ G_ij ‖x_i −
y_j‖², the squared distances recomputed from coordinate differences),
"warning" (POT's, or null), "version"}.
"""
import json
import os
import sys
import time

import numpy as np
import ot
from scipy.spatial.distance import cdist


def main():
    folder = sys.argv[1]
    with open(os.path.join(folder, "args.json")) as f:
        args = json.load(f)
    n, m, d = args["n"], args["m"], args["d"]
    x = np.fromfile(os.path.join(folder, "x.f64"), dtype="<f8").reshape(n, d)
    y = np.fromfile(os.path.join(folder, "y.f64"), dtype="<f8").reshape(m, d)
    cost_matrix = ot.dist(x, y)
    a = np.full(n, 1.0 / n)
    b = np.full(m, 1.0 / m)
    if os.path.exists(os.path.join(folder, "a.f64")):
        a = np.fromfile(os.path.join(folder, "a.f64"), dtype="<f8")
        b = np.fromfile(os.path.join(folder, "b.f64"), dtype="<f8")
    start, cpu = time.perf_counter(), time.process_time()
    plan, log = ot.emd(a, b, cost_matrix, numItermax=args["num_itermax"], log=True)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    cost = float(np.sum(plan * cdist(x, y, "sqeuclidean")))
    print(json.dumps({
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "cost": cost,
        "warning": log.get("warning"),
        "version": ot.__version__,
    }))


if __name__ == "__main__":
    main()
