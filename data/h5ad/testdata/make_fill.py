# Regenerates the fill-value and memory-bound fixtures of issue 19 read by
# h5ad's fill_test.go, and fill.json, what h5py reads from them.
#   cd data/h5ad/testdata && /usr/bin/python3 make_fill.py
# Needs Debian's python3-anndata (0.8) and python3-h5py.
#   fill.h5ad: X and obs/day are chunked with a user-defined fill value and
#     some chunks never written; h5py reads the fill value there. layers/zero
#     has the default fill value (0) and unwritten chunks.
#   huge_unwritten.h5ad: X declared 2000 × 1000 float64 (16 MB, within
#     what the file's chunks could decode to) in chunks, none written: 17 kB
#     that must be refused, not allocated (a 4 MB file: 4 GB).
#   wide_csr.h5ad: a CSR X of 4 cells with a million columns (densified:
#     32 MB from 24 kB; a 4 MB file: 5 GB); refused before densifying.
import json

import anndata as ad
import h5py
import numpy as np
import pandas as pd

N, D = 12, 3
X = np.arange(N * D, dtype=np.float64).reshape(N, D) + 1
day = np.array([0, 1, 2, 3] * 3, dtype=np.float64)

adata = ad.AnnData(X=X, obs=pd.DataFrame({"day": day}, index=[f"c{i}" for i in range(N)]))
adata.write_h5ad("fill.h5ad")
with h5py.File("fill.h5ad", "a") as f:
    attrs = dict(f["X"].attrs)
    del f["X"]
    x = f.create_dataset("X", shape=(N, D), dtype="f8", chunks=(4, 3), fillvalue=7.5)
    x[0:4] = X[0:4]  # chunk rows 4..11 never written
    x[8:12] = X[8:12]
    for k, v in attrs.items():
        x.attrs[k] = v
    attrs = dict(f["obs/day"].attrs)
    del f["obs/day"]
    t = f["obs"].create_dataset("day", shape=(N,), dtype="f8", chunks=(4,), fillvalue=5.0)
    t[0:4] = 0  # cells 4..11 read 5 (h5py), not 0
    t[8:12] = 2
    for k, v in attrs.items():
        t.attrs[k] = v
    z = f["layers"].create_dataset("zero", shape=(N, D), dtype="f8", chunks=(4, 3))
    z[0:4] = X[0:4]
with h5py.File("fill.h5ad", "r") as f:
    expected = {"X": f["X"][()].ravel().tolist(), "day": f["obs/day"][()].tolist(), "zero": f["layers/zero"][()].ravel().tolist()}
with open("fill.json", "w") as out:
    json.dump(expected, out, indent=1)
    out.write("\n")

adata = ad.AnnData(X=X, obs=pd.DataFrame({"day": day}, index=[f"c{i}" for i in range(N)]))
adata.write_h5ad("huge_unwritten.h5ad")
with h5py.File("huge_unwritten.h5ad", "a") as f:
    attrs = dict(f["X"].attrs)
    del f["X"]
    x = f.create_dataset("X", shape=(2000, 1000), dtype="f8", chunks=(100, 100))
    for k, v in attrs.items():
        x.attrs[k] = v
    del f["obs"]["day"]
    # obs keeps 12 cells: X must be refused before the counts are compared.
    f["obs"].create_dataset("day", data=day)

adata = ad.AnnData(X=X[:4], obs=pd.DataFrame({"day": [0.0, 0.0, 1.0, 1.0]}, index=[f"c{i}" for i in range(4)]))
adata.write_h5ad("wide_csr.h5ad")
with h5py.File("wide_csr.h5ad", "a") as f:
    del f["X"]
    g = f.create_group("X")
    g.attrs["encoding-type"] = "csr_matrix"
    g.attrs["encoding-version"] = "0.1.0"
    g.attrs["shape"] = np.array([4, 1_000_000], dtype=np.int64)
    g.create_dataset("data", data=np.ones(4))
    g.create_dataset("indices", data=np.array([0, 1, 2, 999_999], dtype=np.int64))
    g.create_dataset("indptr", data=np.array([0, 1, 2, 3, 4], dtype=np.int64))

# many_heaps.h5ad: obs/label holds 2000 variable-length strings whose
# references each name their own global heap collection: forged
# collections, one every 48 bytes inside a 100 kB byte blob, each claiming
# the rest of the blob. Each read lies inside the file; their total is about
# 2000 × 100 kB, far more than the file. The reader must refuse it.
adata = ad.AnnData(X=X, obs=pd.DataFrame({"day": day}, index=[f"c{i}" for i in range(N)]))
adata.write_h5ad("many_heaps.h5ad")
M, BLOB = 2000, 100_000
with h5py.File("many_heaps.h5ad", "a") as f:
    blob = f.create_dataset("uns/blob", shape=(1,), dtype=h5py.vlen_dtype(np.uint8))
    blob[0] = np.zeros(BLOB, dtype=np.uint8)
    lab = f["obs"].create_dataset("label", shape=(M,), dtype=h5py.string_dtype(), data=["x"] * M)
    lab.attrs["encoding-type"] = "string-array"
    lab.attrs["encoding-version"] = "0.2.0"
    blob_ref_at, label_at = blob.id.get_offset(), lab.id.get_offset()
with open("many_heaps.h5ad", "r+b") as fh:
    fh.seek(blob_ref_at)
    ref = fh.read(16)
    collection = int.from_bytes(ref[4:12], "little")
    start = collection + 16 + 16  # the collection and object headers
    end = start + BLOB
    pattern = bytearray()
    for k in range(M):
        at = start + 48 * k
        pattern += b"GCOL\x01\x00\x00\x00" + (end - at).to_bytes(8, "little")
        pattern += (1).to_bytes(2, "little") + b"\x00" * 6 + (8).to_bytes(8, "little")
        pattern += b"abcdefgh" + b"\x00" * 8  # the object, then free space (id 0)
    assert len(pattern) <= BLOB
    fh.seek(start)
    fh.write(pattern)
    refs = bytearray()
    for k in range(M):
        refs += (1).to_bytes(4, "little") + (start + 48 * k).to_bytes(8, "little") + (1).to_bytes(4, "little")
    fh.seek(label_at)
    fh.write(refs)
