# Regenerates the NumPy-written fixtures read by npz's tests:
#   /usr/bin/python3 gen.py   (run in this directory; needs numpy)
import io
import zipfile

import numpy as np


def arrays():
    return dict(
        x=np.array([[1.5, -2.0], [3.25, 4.0], [1e-300, -0.0]]),  # <f8, 3x2
        f4=np.array([0.1, -1.5, 3.0e38], dtype=np.float32),
        i8=np.array([-(2**62), -1, 0, 2**62], dtype=np.int64),
        i4=np.array([-(2**31), 2**31 - 1], dtype=np.int32),
        i2=np.array([-32768, 32767], dtype=np.int16),
        i1=np.array([-128, 127], dtype=np.int8),
        u1=np.frombuffer(b'{"a": 1}', dtype=np.uint8),
        u4=np.array([0, 2**32 - 1], dtype=np.uint32),
        b1=np.array([True, False, True]),
        scalar=np.float64(0.01),
        cube=np.arange(24, dtype=np.int64).reshape(2, 3, 4),
        empty=np.zeros((0, 3)),
    )


def entry_zip(path, entries):
    """Writes a zip of raw .npy entries built with explicit format versions."""
    with zipfile.ZipFile(path, "w") as z:
        for name, (arr, version) in entries.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, arr, version=version)
            z.writestr(name + ".npy", buf.getvalue())


np.savez("stored.npz", **arrays())
np.savez_compressed("compressed.npz", **arrays())
entry_zip("versions.npz", {
    "v1": (np.array([1.0, 2.0]), (1, 0)),
    "v2": (np.array([3.0, 4.0]), (2, 0)),
    "v3": (np.array([5.0, 6.0]), (3, 0)),
})
np.savez(
    "fortran.npz",
    a=np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    c=np.asfortranarray(np.arange(24, dtype=np.int32).reshape(2, 3, 4)),
    v=np.asfortranarray(np.arange(3.0)),  # rank 1: numpy writes fortran_order False
)
np.savez("bigendian.npz", a=np.array([1.0, 2.0], dtype=">f8"))
np.savez("complex.npz", a=np.array([1 + 2j]))

# A snapshot file in the accepted-but-not-canonical dtypes: float32 x,
# integer t, int32 id, 1-element dt, bytes meta.
np.savez(
    "snapshot_variants.npz",
    x=np.array([[0.5, 1.0], [2.0, -3.0], [0.25, 4.0]], dtype=np.float32),
    t=np.array([0, 0, 1]),
    id=np.array([7, 8, 7], dtype=np.int32),
    dt=np.array([0.5]),
    meta=np.frombuffer(b'{"potential": "flat"}', dtype=np.uint8),
)
