"""Writes days.h5ad with anndata: the time columns a real single-cell file
has that a reader must not get silently wrong (issue 18).

  obs index  barcodes (AAACCTGAGAAACCAT-1, ...)
  day        categorical D0, D2, D4, D6, D10 plus an unused D8, categories in
             the text order anndata gives by default (D0, D10, D2, D4, D6, D8)
  day_num    the same days as numbers (0, 2, 4, 6, 10): what "day" must read as
  phase      categorical early, mid, late without numbers, text order
             (early, late, mid): no time order can be read from it
  stage      ordered categorical early < mid < late < post with mid and post
             unused: early and late become times 0 and 1
  n_counts   each cell's total count: not a time (150 distinct values)
  X          raw counts, CSR float32, 150 cells x 120 genes (30 expressed)
  obsm/X_pca 5 columns

Run from this directory with Debian's python3-anndata: python3 make_days.py
"""
import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

rng = np.random.default_rng(18)
DAYS = [0, 2, 4, 6, 10]
N_PER, GENES = 30, 120
n = N_PER * len(DAYS)
day_num = np.repeat(DAYS, N_PER)
labels = np.array([f"D{d}" for d in day_num])
counts = rng.poisson(1.5 + day_num[:, None] / 5.0, size=(n, GENES)).astype(np.float32)
counts[:, np.arange(GENES) % 4 != 0] = 0  # sparse, as counts are
bases = "ACGT"
barcodes = ["".join(rng.choice(list(bases), 16)) + "-1" for _ in range(n)]
obs = pd.DataFrame(
    {
        "day": pd.Categorical(labels, categories=sorted(["D0", "D2", "D4", "D6", "D10", "D8"])),
        "day_num": day_num.astype(np.int64),
        "phase": pd.Categorical(np.array(["early", "mid", "late"])[np.arange(n) % 3]),
        "stage": pd.Categorical(np.array(["early", "late"])[np.arange(n) % 2],
                                categories=["early", "mid", "late", "post"], ordered=True),
        "n_counts": counts.sum(axis=1) + np.arange(n) * 1000.0,
    },
    index=pd.Index(barcodes, name="barcode"),
)
a = ad.AnnData(X=sp.csr_matrix(counts), obs=obs)
a.obsm["X_pca"] = rng.normal(size=(n, 5)) + day_num[:, None] / 4.0
a.write_h5ad("days.h5ad")
