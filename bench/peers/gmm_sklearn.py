"""scikit-learn peer of density.FitMixture (jkonet-gpu bench).

Usage: gmm_sklearn.py DIR, where DIR holds args.json ({"d", "k", "tol",
"reg_covar", "max_iter", "seed"}) and x.f64 (the points, little-endian
float64, row-major n×d). Fits GaussianMixture once untimed (imports, thread
pools), then once timed with the same settings, and prints one JSON object:
{"seconds", "log_likelihood" (score(X), mean per point), "iterations",
"converged"}.
"""
import json
import os
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture


def main():
    folder = sys.argv[1]
    with open(os.path.join(folder, "args.json")) as f:
        args = json.load(f)
    x = np.fromfile(os.path.join(folder, "x.f64"), dtype="<f8").reshape(-1, args["d"])

    def model():
        return GaussianMixture(
            n_components=args["k"],
            covariance_type="full",
            tol=args["tol"],
            reg_covar=args["reg_covar"],
            max_iter=args["max_iter"],
            init_params="kmeans",
            n_init=1,
            random_state=args["seed"] % 2**32,
        )

    warnings.simplefilter("ignore", ConvergenceWarning)
    model().fit(x)
    gm = model()
    start = time.perf_counter()
    gm.fit(x)
    seconds = time.perf_counter() - start
    print(json.dumps({
        "seconds": seconds,
        "log_likelihood": float(gm.score(x)),
        "iterations": int(gm.n_iter_),
        "converged": bool(gm.converged_),
    }))


main()
