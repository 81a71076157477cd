# Regenerates the link and label fixtures of issue 19 read by links_test.go.
#   cd data/h5ad/testdata && /usr/bin/python3 make_links.py
# Needs Debian's python3-anndata (0.8) and python3-h5py.
#   links.h5ad: 8 cells at days 0 and 1, X and obsm/X_pca, plus soft links
#     as h5py writes them: obs/when -> /obs/day, obsm/X_alias -> X_pca
#     (relative), uns/alias -> /X (harmless: one such link used to make the
#     whole file unreadable), obsm/X_dangling -> /nowhere, a cycle
#     obsm/X_loop_a <-> /obsm/X_loop_b, and an external link
#     obsm/X_ext -> other.h5ad:/X (other.h5ad is not there).
#   big_labels.h5ad: obs/day int64 2^53 (4 cells) and 2^53+1 (4 cells):
#     one float64 time unless refused.
#   zero_cells.h5ad: X of shape (0, 2), obs/day of 0 values.
import anndata as ad
import h5py
import numpy as np
import pandas as pd

N, D = 8, 2
X = np.arange(N * D, dtype=np.float64).reshape(N, D) + 1
index = [f"c{i}" for i in range(N)]

a = ad.AnnData(X=X, obs=pd.DataFrame({"day": np.array([0, 1] * 4, dtype=np.float64)}, index=index))
a.obsm["X_pca"] = X * 2
a.write_h5ad("links.h5ad")
with h5py.File("links.h5ad", "a") as f:
    f["obs/when"] = h5py.SoftLink("/obs/day")
    f["obsm/X_alias"] = h5py.SoftLink("X_pca")
    f["uns/alias"] = h5py.SoftLink("/X")
    f["obsm/X_dangling"] = h5py.SoftLink("/nowhere")
    f["obsm/X_loop_a"] = h5py.SoftLink("/obsm/X_loop_b")
    f["obsm/X_loop_b"] = h5py.SoftLink("/obsm/X_loop_a")
    f["obsm/X_ext"] = h5py.ExternalLink("other.h5ad", "/X")
with h5py.File("links.h5ad", "r") as f:  # what h5py reads through the links
    assert (f["obs/when"][()] == f["obs/day"][()]).all()
    assert (f["obsm/X_alias"][()] == X * 2).all()

big = np.array([2**53, 2**53 + 1] * 4, dtype=np.int64)
ad.AnnData(X=X, obs=pd.DataFrame({"day": big}, index=index)).write_h5ad("big_labels.h5ad")

ad.AnnData(X=np.zeros((0, D)), obs=pd.DataFrame({"day": np.zeros(0)}, index=pd.Index([], dtype=str))).write_h5ad("zero_cells.h5ad")
