package npz

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/internal/fuzzcheck"
)

// The fuzz targets of this file run their seeds (f.Add below and
// testdata/fuzz/FuzzXxx) under plain go test; scripts/fuzz.sh fuzzes them.
// Every input must give arrays or an error, never a panic, and
//
//   - an error is one line that names the array (or says the file is not an
//     NPZ archive);
//   - the reader allocates at most fuzzcheck.Limit(n, fuzzcheck.PerByte) bytes for n bytes of input
//     (n counts a deflated entry at its inflated size, which is really
//     there), so a size field believed before it is checked against the
//     bytes present shows up as an allocation of the size it claims;
//   - arrays read are consistent (dtype, shape, values in the dtype's range)
//     and read back the same after np.savez by Write.

// checkOneLine fails t if err spans several lines.
func checkOneLine(t *testing.T, err error) {
	t.Helper()
	if strings.ContainsAny(err.Error(), "\n\r") {
		t.Errorf("error on several lines: %q", err)
	}
}

// checkArray checks the invariants of an array the reader accepted.
func checkArray(t *testing.T, name string, a *Array) {
	t.Helper()
	kind, size, err := parseDType(a.DType)
	if err != nil {
		t.Fatalf("array %q: accepted with dtype %q: %v", name, a.DType, err)
	}
	if len(a.Shape) > maxRank {
		t.Errorf("array %q: rank %d over NumPy's %d", name, len(a.Shape), maxRank)
	}
	n, ok := elementCount(a.Shape, size)
	if !ok {
		t.Fatalf("array %q: accepted shape %v is too large", name, a.Shape)
	}
	for _, s := range a.Shape {
		if s < 0 {
			t.Fatalf("array %q: negative dimension in %v", name, a.Shape)
		}
	}
	if a.Len() != n {
		t.Errorf("array %q: Len() = %d, shape %v holds %d", name, a.Len(), a.Shape, n)
	}
	if kind == 'f' {
		if a.Float == nil || a.Int != nil || len(a.Float) != n {
			t.Fatalf("array %q of %s: %d floats, %d ints for shape %v", name, a.DType, len(a.Float), len(a.Int), a.Shape)
		}
		if size == 4 {
			for i, v := range a.Float {
				if !math.IsNaN(v) && v != float64(float32(v)) {
					t.Errorf("array %q: float32 value %d is %v", name, i, v)
				}
			}
		}
		return
	}
	if a.Int == nil || a.Float != nil || len(a.Int) != n {
		t.Fatalf("array %q of %s: %d floats, %d ints for shape %v", name, a.DType, len(a.Float), len(a.Int), a.Shape)
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	switch {
	case kind == 'b':
		lo, hi = 0, 1
	case kind == 'u':
		lo = 0
		if size < 8 {
			hi = 1<<(8*size) - 1
		}
	case size < 8:
		lo, hi = -1<<(8*size-1), 1<<(8*size-1)-1
	}
	for i, v := range a.Int {
		if v < lo || v > hi {
			t.Fatalf("array %q of %s: value %d at index %d out of [%d, %d]", name, a.DType, v, i, lo, hi)
		}
	}
}

// asWritable converts an array read in any dtype to one Write takes.
func asWritable(a *Array) *Array {
	if a.IsFloat() {
		return FromFloat64(a.Shape, a.Float)
	}
	return FromInt64(a.Shape, a.Int)
}

// sameValues reports whether b holds a's shape and values, bit for bit.
func sameValues(a, b *Array) bool {
	if len(a.Shape) != len(b.Shape) || len(a.Float) != len(b.Float) || len(a.Int) != len(b.Int) {
		return false
	}
	for i := range a.Shape {
		if a.Shape[i] != b.Shape[i] {
			return false
		}
	}
	for i := range a.Float {
		if math.Float64bits(a.Float[i]) != math.Float64bits(b.Float[i]) {
			return false
		}
	}
	for i := range a.Int {
		if a.Int[i] != b.Int[i] {
			return false
		}
	}
	return true
}

// checkRoundTrip writes the arrays with Write and reads them back.
func checkRoundTrip(t *testing.T, arch Archive) {
	t.Helper()
	var out Archive
	for _, e := range arch {
		if e.Name != "" { // np.load accepts an entry ".npy"; Write refuses an empty name
			out = append(out, Entry{Name: e.Name, Array: asWritable(e.Array)})
		}
	}
	var buf bytes.Buffer
	if err := Write(&buf, out); err != nil {
		t.Fatalf("writing what was read: %v", err)
	}
	back, err := Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatalf("reading what was written: %v", err)
	}
	if len(back) != len(out) {
		t.Fatalf("wrote %d arrays, read %d", len(out), len(back))
	}
	for i, e := range out {
		if back[i].Name != e.Name || back[i].Array.DType != e.Array.DType || !sameValues(back[i].Array, e.Array) {
			t.Errorf("array %q: read back %+v, wrote %+v", e.Name, back[i].Array, e.Array)
		}
	}
}

// FuzzRead fuzzes whole .npz files: the zip container (stored and deflated
// entries, directories, duplicate names, forged sizes) and the .npy entries
// in it.
func FuzzRead(f *testing.F) {
	var buf bytes.Buffer
	if err := Write(&buf, Archive{
		{"x", FromFloat64([]int{2, 1}, []float64{1, 2})},
		{"id", FromInt64([]int{2}, []int64{7, 8})},
		{"meta", FromBytes([]byte("{}"))},
	}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	for _, name := range []string{"stored.npz", "compressed.npz", "versions.npz", "fortran.npz", "bigendian.npz", "complex.npz", "snapshot_variants.npz"} {
		data, err := os.ReadFile(filepath.Join(fixtures, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var arch Archive
		var err error
		fuzzcheck.Alloc(t, fuzzcheck.InflatedSize(data), fuzzcheck.PerByte, func() { arch, err = Read(bytes.NewReader(data), int64(len(data))) })
		if err != nil {
			checkOneLine(t, err)
			if msg := err.Error(); !strings.HasPrefix(msg, `array "`) && !strings.HasPrefix(msg, "not an NPZ archive") {
				t.Errorf("error %q names no array", msg)
			}
			return
		}
		seen := map[string]bool{}
		for _, e := range arch {
			if seen[e.Name] {
				t.Errorf("array %q returned twice", e.Name)
			}
			seen[e.Name] = true
			checkArray(t, e.Name, e.Array)
		}
		checkRoundTrip(t, arch)
	})
}

// FuzzReadNPY fuzzes one .npy stream (an entry of an archive) directly, so
// that mutations of the header and data are not lost to the zip checksums:
// magic, versions 1.0-3.0, the header dict, dtypes, Fortran order, shapes
// and data lengths.
func FuzzReadNPY(f *testing.F) {
	f.Add(append(formatHeader("<f8", []int{2}), make([]byte, 16)...))
	f.Add(append(formatHeader("|u1", []int{3, 1}), 1, 2, 3))
	f.Add(npyEntry("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }\n", make([]byte, 8)))
	f.Fuzz(func(t *testing.T, data []byte) {
		var a *Array
		var err error
		fuzzcheck.Alloc(t, int64(len(data)), fuzzcheck.PerByte, func() { a, err = readNPY(bytes.NewReader(data), int64(len(data)), nil) })
		if err != nil {
			checkOneLine(t, err)
			return
		}
		checkArray(t, "x", a)
		checkRoundTrip(t, Archive{{Name: "x", Array: a}})
	})
}
