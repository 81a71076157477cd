# Regenerates the .h5ad fixtures read by h5ad's tests, and expected.json, the
# values the tests compare against (written here from the same arrays).
#   cd h5ad/testdata && /usr/bin/python3 make_fixtures.py
# Needs Debian's python3-anndata (0.8) and python3-h5py. Layouts anndata 0.8
# does not write (0.7's __categories, 0.10+'s nullable-integer, a plain
# string column, h5py's libver='latest') are written with h5py the way those
# versions write them.
import json
import sys

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

N, D = 30, 4
rng = np.random.default_rng(7)
X = rng.normal(size=(N, D)).round(3)
X[rng.random(size=(N, D)) < 0.4] = 0  # sparse enough to matter
stage_codes = np.arange(N) % 3
STAGES = ["early", "mid", "late"]  # category order; alphabetical would be early, late, mid
hours = np.array([0.0, 8.5, 24.0])[stage_codes]
day = np.array([2, 4, 6], dtype=np.int64)[stage_codes]
NUMCATS = [6, 2, 4]  # numeric categories out of order
numcat_codes = (stage_codes + 1) % 3
labels = np.array(["d0", "d1", "d2"], dtype=object)[stage_codes]
pca = rng.normal(size=(N, 2))
umap = rng.normal(size=(N, 2)).astype(np.float32)
counts = rng.integers(0, 50, size=(N, D)).astype(np.int32)

expected = {}


def obs_frame():
    return pd.DataFrame(
        {
            "stage": pd.Categorical.from_codes(stage_codes, STAGES),
            "hours": hours,
            "day": day,
            "numcat": pd.Categorical.from_codes(numcat_codes, NUMCATS),
            "constant": np.zeros(N),
            "flag": stage_codes == 1,  # bool: an int8 enum in HDF5
        },
        index=[f"cell{i}" for i in range(N)],
    )


def times():
    return {
        "stage": stage_codes.tolist(),
        "hours": hours.tolist(),
        "day": day.astype(float).tolist(),
        "numcat": [float(NUMCATS[c]) for c in numcat_codes],
        "label_order": stage_codes.tolist(),  # label with time order d0,d1,d2
        "flag": (stage_codes == 1).astype(float).tolist(),
    }


def flat(a):
    return np.asarray(a, dtype=np.float64).ravel().tolist()


def add_by_hand(path):
    """A plain (non-categorical) string column, as anndata writes one when
    it does not convert strings to categoricals; layers in chunks that
    overhang the edges with shuffle, gzip and fletcher32, and in 1×1 chunks
    (a B-tree of more than one level)."""
    with h5py.File(path, "a") as f:
        ds = f["obs"].create_dataset("label", data=labels.astype(str).tolist(), dtype=h5py.string_dtype())
        ds.attrs["encoding-type"] = "string-array"
        ds.attrs["encoding-version"] = "0.2.0"
        f["layers"].create_dataset("shuffled", data=X, chunks=(7, 3), shuffle=True, fletcher32=True, compression="gzip")
        f["layers"].create_dataset("tiny_chunks", data=X, chunks=(1, 1))
        f["layers"].create_dataset("big_endian", data=X.astype(">f8"))
        f["obs"].create_dataset("short", data=hours[:-1])  # one value short of the cells


# dense.h5ad: dense float32 X, every kind of time column, obsm, layers.
adata = ad.AnnData(X=X.astype(np.float32), obs=obs_frame())
adata.obsm["X_pca"] = pca
adata.obsm["X_umap"] = umap
adata.layers["counts"] = counts
adata.layers["sparse"] = sp.csr_matrix(X)
adata.write_h5ad("dense.h5ad")
add_by_hand("dense.h5ad")
expected["dense.h5ad"] = {
    "X": flat(X.astype(np.float32)),
    "d": D,
    "obsm": {"X_pca": flat(pca), "X_umap": flat(umap)},
    "layers": {"counts": flat(counts), "sparse": flat(X), "shuffled": flat(X), "tiny_chunks": flat(X), "big_endian": flat(X)},
    "times": times(),
}

# csr_gzip.h5ad: CSR float64 X, every dataset chunked and deflated (the
# int8 codes too).
ad.AnnData(X=sp.csr_matrix(X), obs=obs_frame(), dtype=np.float64).write_h5ad("csr_gzip.h5ad", compression="gzip")
expected["csr_gzip.h5ad"] = {"X": flat(X), "d": D, "times": times()}

# csc.h5ad: CSC float32 X.
ad.AnnData(X=sp.csc_matrix(X.astype(np.float32)), obs=obs_frame()).write_h5ad("csc.h5ad")
expected["csc.h5ad"] = {"X": flat(X.astype(np.float32)), "d": D, "times": times()}

# latest.h5ad: h5py's newest file format (superblock 3, v2 object headers,
# v4 layouts) with a layer in a single chunk, and one in a fixed-array chunk
# index, which the reader refuses. The HDF5 library lists no
# members of a group that has attributes in this format, so whole anndata
# files written this way are refused; this one has bare groups and numeric
# columns to test the dataset reader on the format.
with h5py.File("latest.h5ad", "w", libver="latest") as f:
    f.create_dataset("X", data=X)
    f.create_group("obs").create_dataset("hours", data=hours)
    layers = f.create_group("layers")
    layers.create_dataset("shuffled", data=X, chunks=(7, 3), shuffle=True, fletcher32=True, compression="gzip")
    layers.create_dataset("single", data=X, chunks=X.shape, compression="gzip")
    # early allocation of unfiltered chunks: an implicit chunk index
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_chunk((7, 3))
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    h5py.h5d.create(layers.id, b"implicit", h5py.h5t.IEEE_F64LE, h5py.h5s.create_simple(X.shape), dcpl=dcpl).write(
        h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(X)
    )
expected["latest.h5ad"] = {"X": flat(X), "d": D, "layers": {"single": flat(X), "implicit": flat(X)}, "times": {"hours": hours.tolist()}}

# v07.h5ad: anndata 0.7's layout: no encoding attributes on X, categorical
# codes as a plain dataset with the categories in obs/__categories.
with h5py.File("v07.h5ad", "w") as f:
    f.create_dataset("X", data=X.astype(np.float32))
    obs = f.create_group("obs")
    obs.attrs["_index"] = "index"
    obs.attrs["column-order"] = ["stage", "hours"]
    obs.attrs["encoding-type"] = "dataframe"
    obs.attrs["encoding-version"] = "0.1.0"
    obs.create_dataset("index", data=[f"cell{i}" for i in range(N)], dtype=h5py.string_dtype())
    cats = obs.create_group("__categories")
    cats.create_dataset("stage", data=np.array(STAGES, dtype="S5"))  # fixed-length strings
    codes = obs.create_dataset("stage", data=stage_codes.astype(np.int8))
    codes.attrs["categories"] = cats["stage"].ref
    obs.create_dataset("hours", data=hours)
expected["v07.h5ad"] = {"X": flat(X.astype(np.float32)), "d": D, "times": {"stage": stage_codes.tolist(), "hours": hours.tolist()}}

# nullable.h5ad: anndata 0.10+'s nullable-integer columns (pandas Int64), one
# clean and one with a masked cell, and a nullable string column.
adata = ad.AnnData(X=X, obs=obs_frame(), dtype=np.float64)
adata.write_h5ad("nullable.h5ad")
with h5py.File("nullable.h5ad", "a") as f:
    for name, mask in [("day_int", np.zeros(N, bool)), ("day_masked", np.arange(N) == 5)]:
        g = f["obs"].create_group(name)
        g.attrs["encoding-type"] = "nullable-integer"
        g.attrs["encoding-version"] = "0.1.0"
        g.create_dataset("values", data=day)
        g.create_dataset("mask", data=mask)
    # anndata 0.11's nullable-string-array (pandas StringDtype)
    g = f["obs"].create_group("label_str")
    g.attrs["encoding-type"] = "nullable-string-array"
    g.attrs["encoding-version"] = "0.1.0"
    g.create_dataset("values", data=labels.astype(str).tolist(), dtype=h5py.string_dtype())
    g.create_dataset("mask", data=np.zeros(N, bool))
    # a categorical whose categories are a nullable-string-array
    g = f["obs"].create_group("stage_str")
    g.attrs["encoding-type"] = "categorical"
    g.attrs["encoding-version"] = "0.2.0"
    g.attrs["ordered"] = False
    g.create_dataset("codes", data=stage_codes.astype(np.int8))
    cats = g.create_group("categories")
    cats.attrs["encoding-type"] = "nullable-string-array"
    cats.attrs["encoding-version"] = "0.1.0"
    cats.create_dataset("values", data=STAGES, dtype=h5py.string_dtype())
    cats.create_dataset("mask", data=np.zeros(len(STAGES), bool))
expected["nullable.h5ad"] = {"X": flat(X), "d": D, "times": {"day_int": day.astype(float).tolist(), "label_order": stage_codes.tolist(), "stage": stage_codes.tolist()}}

# Bad files, each small: NaN in X, no X (but an obsm), not AnnData, not HDF5.
bad = X.astype(np.float32).copy()
bad[3, 2] = np.nan
ad.AnnData(X=bad, obs=obs_frame()).write_h5ad("nan.h5ad")
no_x = ad.AnnData(obs=obs_frame())
no_x.obsm["X_pca"] = pca
no_x.write_h5ad("no_x.h5ad")
with h5py.File("not_anndata.h5ad", "w") as f:
    f.create_dataset("values", data=np.arange(5.0))
with open("not_hdf5.h5ad", "w") as f:
    f.write("cell,day\n0,1\n")
# Structures the HDF5 library would mishandle, refused before it opens
# them: a root of 9 members with track_order (dense link storage in a
# fractal heap), and a group that holds a hard link to itself.
with h5py.File("track_order.h5ad", "w", track_order=True) as f:
    for name in ["X", "layers", "obs", "obsm", "obsp", "uns", "var", "varm", "varp"]:
        f.create_group(name)
with h5py.File("cycle.h5ad", "w", libver="latest") as f:
    obs = f.create_group("obs")
    obs["loop"] = obs
expected["no_x.h5ad"] = {"obsm": {"X_pca": flat(pca)}, "times": times()}

with open("expected.json", "w") as f:
    json.dump(expected, f, indent=0, sort_keys=True)
    f.write("\n")

# eb_val_csr_pc5.h5ad is a copy of a file written elsewhere with anndata 0.8
# from the embryoid-body cells of take-koshizuka/NLSB's data/val_rna.npz
# (1000 cells, days 0-4; X a float32 CSR copy of the 100 PCs with entries
# |x| <= 1 zeroed, obsm/X_pca the first 5 PCs in float64). Its twin holds
# those 5 PCs and the day of each cell, from val_rna.npz, when that is at
# hand (pass its path as the first argument).
if len(sys.argv) > 1:
    with np.load(sys.argv[1]) as d:
        np.savez("eb_val_pc5.npz", x=d["X"][:, :5], t=d["ts"].astype(np.float64))
