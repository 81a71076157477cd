package npz

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/internal/fuzzcheck"
)

const fixtures = "../../testdata/npz"

// wantNumPy lists the arrays testdata/npz/gen.py writes into stored.npz and
// compressed.npz.
var wantNumPy = map[string]*Array{
	"x":      {DType: "<f8", Shape: []int{3, 2}, Float: []float64{1.5, -2, 3.25, 4, 1e-300, math.Copysign(0, -1)}},
	"f4":     {DType: "<f4", Shape: []int{3}, Float: []float64{float64(float32(0.1)), -1.5, float64(float32(3.0e38))}},
	"i8":     {DType: "<i8", Shape: []int{4}, Int: []int64{-(1 << 62), -1, 0, 1 << 62}},
	"i4":     {DType: "<i4", Shape: []int{2}, Int: []int64{math.MinInt32, math.MaxInt32}},
	"i2":     {DType: "<i2", Shape: []int{2}, Int: []int64{math.MinInt16, math.MaxInt16}},
	"i1":     {DType: "|i1", Shape: []int{2}, Int: []int64{math.MinInt8, math.MaxInt8}},
	"u1":     FromBytes([]byte(`{"a": 1}`)),
	"u4":     {DType: "<u4", Shape: []int{2}, Int: []int64{0, math.MaxUint32}},
	"b1":     {DType: "|b1", Shape: []int{3}, Int: []int64{1, 0, 1}},
	"scalar": {DType: "<f8", Shape: []int{}, Float: []float64{0.01}},
	"cube":   {DType: "<i8", Shape: []int{2, 3, 4}, Int: iota64(24)},
	"empty":  {DType: "<f8", Shape: []int{0, 3}, Float: []float64{}},
}

func iota64(n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(i)
	}
	return out
}

func TestReadNumPyFiles(t *testing.T) {
	for _, file := range []string{"stored.npz", "compressed.npz"} {
		arch, err := ReadFile(filepath.Join(fixtures, file))
		if err != nil {
			t.Fatal(err)
		}
		if len(arch) != len(wantNumPy) {
			t.Errorf("%s: %d arrays, want %d", file, len(arch), len(wantNumPy))
		}
		for name, want := range wantNumPy {
			got := arch.Get(name)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: array %q = %+v, want %+v", file, name, got, want)
			}
		}
		if x := arch.Get("x"); math.Signbit(x.Float[5]) != true {
			t.Errorf("%s: -0.0 lost its sign", file)
		}
	}
}

func TestReadFormatVersions(t *testing.T) {
	arch, err := ReadFile(filepath.Join(fixtures, "versions.npz"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]float64{"v1": {1, 2}, "v2": {3, 4}, "v3": {5, 6}} {
		if got := arch.Get(name); got == nil || !reflect.DeepEqual(got.Float, want) {
			t.Errorf("array %q = %+v, want %v", name, got, want)
		}
	}
}

// TestReadFortranOrder reads arrays NumPy wrote in Fortran order (after
// np.asfortranarray, as a transpose leaves them): the data must come back
// in C order, equal to np.arange(n).reshape(shape).
func TestReadFortranOrder(t *testing.T) {
	arch, err := ReadFile(filepath.Join(fixtures, "fortran.npz"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*Array{
		"a": {DType: "<f8", Shape: []int{2, 3}, Float: []float64{0, 1, 2, 3, 4, 5}},
		"c": {DType: "<i4", Shape: []int{2, 3, 4}, Int: iota64(24)},
		"v": {DType: "<f8", Shape: []int{3}, Float: []float64{0, 1, 2}},
	}
	for name, w := range want {
		if got := arch.Get(name); !reflect.DeepEqual(got, w) {
			t.Errorf("array %q = %+v, want %+v", name, got, w)
		}
	}
}

// TestReadFortranOrderHandBuilt writes the column-major bytes of a 2×3×2
// array by its definition (element (i,j,k) at i + 2j + 6k) and checks each
// element lands at its row-major place i·6 + j·2 + k.
func TestReadFortranOrderHandBuilt(t *testing.T) {
	const n0, n1, n2 = 2, 3, 2
	data := make([]byte, 8*n0*n1*n2)
	for i := range n0 {
		for j := range n1 {
			for k := range n2 {
				value := float64(100*i + 10*j + k)
				binary.LittleEndian.PutUint64(data[8*(i+n0*j+n0*n1*k):], math.Float64bits(value))
			}
		}
	}
	entry := npyEntry("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3, 2), }\n", data)
	a, err := readNPY(bytes.NewReader(entry), int64(len(entry)), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n0 {
		for j := range n1 {
			for k := range n2 {
				if got, want := a.Float[i*n1*n2+j*n2+k], float64(100*i+10*j+k); got != want {
					t.Errorf("element (%d,%d,%d) = %v, want %v", i, j, k, got, want)
				}
			}
		}
	}
	for shape, size := range map[string]int{"(0, 3)": 0, "(3, 0)": 0, "(1, 1)": 8, "()": 8} {
		entry := npyEntry("{'descr': '<f8', 'fortran_order': True, 'shape': "+shape+", }\n", make([]byte, size))
		if _, err := readNPY(bytes.NewReader(entry), int64(len(entry)), nil); err != nil {
			t.Errorf("shape %s: %v", shape, err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	in := Archive{
		{"x", FromFloat64([]int{2, 3}, []float64{1, 2, 3, 4, 5, math.Inf(-1)})},
		{"id", FromInt64([]int{2}, []int64{math.MinInt64, math.MaxInt64})},
		{"meta", FromBytes([]byte(`{"seed": 0}`))},
		{"dt", FromFloat64([]int{}, []float64{0.01})},
		{"none", FromFloat64([]int{0}, []float64{})},
	}
	var first, second bytes.Buffer
	if err := Write(&first, in); err != nil {
		t.Fatal(err)
	}
	if err := Write(&second, in); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Error("writing the same arrays twice gave different bytes")
	}
	out, err := Read(bytes.NewReader(first.Bytes()), int64(first.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Errorf("read back %+v, want %+v", out, in)
	}
}

func TestWriteFileLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.npz")
	if err := WriteFile(path, Archive{{"x", FromFloat64([]int{1, 2}, []float64{1, 2})}}); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	f := zr.File[0]
	if f.Name != "x.npy" || f.Method != zip.Store || !f.Modified.Equal(zipTime) {
		t.Errorf("entry %q method %d modified %v; want x.npy, stored, %v", f.Name, f.Method, f.Modified, zipTime)
	}
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	buf.ReadFrom(rc)
	data := buf.Bytes()
	headerLen := int(data[8]) | int(data[9])<<8
	if (10+headerLen)%64 != 0 || data[9+headerLen] != '\n' || len(data) != 10+headerLen+16 {
		t.Errorf("header of %d bytes leaves data unaligned or misplaced: %q", headerLen, data)
	}
}

func TestWriteRejectsBadArrays(t *testing.T) {
	cases := map[string]struct {
		arch Archive
		want string
	}{
		"short data": {Archive{{"x", FromFloat64([]int{2, 2}, []float64{1, 2, 3})}}, `array "x": shape (2, 2) needs 4 values, got 3`},
		"dtype":      {Archive{{"x", &Array{DType: "<f4", Shape: []int{1}, Float: []float64{1}}}}, `cannot write dtype "<f4"`},
		"uint8":      {Archive{{"m", &Array{DType: "|u1", Shape: []int{1}, Int: []int64{256}}}}, "does not fit in uint8"},
		"twice":      {Archive{{"x", FromInt64(nil, []int64{1})}, {"x", FromInt64(nil, []int64{1})}}, "name used twice"},
		"nil":        {Archive{{"x", nil}}, "no array"},
	}
	for name, c := range cases {
		err := Write(&bytes.Buffer{}, c.arch)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, c.want)
		}
	}
}

func TestWriteFileLeavesNoFileOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.npz")
	err := WriteFile(path, Archive{{"x", FromFloat64([]int{2}, nil)}})
	if err == nil || !strings.HasPrefix(err.Error(), path+": ") {
		t.Errorf("error %v does not start with the path", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 0 {
		t.Errorf("failed write left %v behind", entries)
	}
}

// npyEntry builds raw .npy bytes from a header dict and data.
func npyEntry(dict string, data []byte) []byte {
	out := []byte(magic + "\x01\x00")
	out = append(out, byte(len(dict)), byte(len(dict)>>8))
	return append(append(out, dict...), data...)
}

func zipOf(t *testing.T, name string, content []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(content)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	f8 := "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }\n"
	cases := map[string]struct {
		content []byte
		want    string
	}{
		"not a zip":    {[]byte("x,t\n1,2\n"), `bad.npz: not an NPZ archive (zip: not a valid zip file)`},
		"bad magic":    {zipOf(t, "x.npy", []byte("\x93NUMPX\x01\x00")), `bad.npz: array "x": not a .npy entry (bad magic)`},
		"empty entry":  {zipOf(t, "x.npy", nil), `bad.npz: array "x": not a .npy entry (unexpected EOF)`},
		"version":      {zipOf(t, "x.npy", []byte(magic+"\x09\x00")), `unsupported .npy format version 9.0`},
		"short header": {zipOf(t, "x.npy", []byte(magic+"\x01\x00\xff\x00{'descr'")), `array "x": truncated .npy header (unexpected EOF)`},
		"bad header":   {zipOf(t, "x.npy", npyEntry("{'descr': '<f8', 'shape': (2,)}", nil)), `array "x": bad .npy header: header lacks key "fortran_order"`},
		"bad shape":    {zipOf(t, "x.npy", npyEntry("{'descr': '<f8', 'fortran_order': False, 'shape': (-2,)}", nil)), "shape holds something other than"},
		"huge shape":   {zipOf(t, "x.npy", npyEntry("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296)}", nil)), "is too large"},
		"short data":   {zipOf(t, "x.npy", npyEntry(f8, make([]byte, 15))), `bad.npz: array "x": data is truncated: shape (2,) of <f8 needs 16 bytes, found 15`},
		"long data":    {zipOf(t, "x.npy", npyEntry(f8, make([]byte, 17))), `data is longer than shape (2,)`},
		"structured":   {zipOf(t, "x.npy", npyEntry("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2,)}", nil)), "structured dtypes are not supported"},
		"uint64":       {zipOf(t, "x.npy", npyEntry("{'descr': '<u8', 'fortran_order': False, 'shape': (1,)}", bytes.Repeat([]byte{0xff}, 8))), "does not fit in int64"},
	}
	for name, c := range cases {
		path := filepath.Join(dir, "bad.npz")
		if err := os.WriteFile(path, c.content, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadFile(path)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, c.want)
		}
	}
}

// TestReadDoesNotTrustDeclaredSizes: sizes a file declares (a shape, a
// header length) must not be allocated before the bytes are there. Before
// the fix a deflated entry reserved up to 1100 times the archive's size for
// its shape's claim, and a .npy header length was allocated in full.
func TestReadDoesNotTrustDeclaredSizes(t *testing.T) {
	noise := make([]byte, 64<<10) // incompressible: deflate keeps it at its size
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	huge := zipOf(t, "x.npy", npyEntry("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000,), }\n", noise)) // within the decode budget: the data must be read to find it short
	v2 := []byte(magic + "\x02\x00\x00\x00\x10\x00{'descr'")                                                        // version 2.0, a dict of 1 MiB declared, 8 bytes present
	cases := []struct {
		name  string
		read  func() error
		limit uint64
		want  string
	}{
		{"deflated shape", func() error { _, err := Read(bytes.NewReader(huge), int64(len(huge))); return err },
			fuzzcheck.Limit(int64(len(huge)), fuzzcheck.PerByte), "data is truncated: shape (1000000,) of <f8 needs 8000000 bytes, found 65536"},
		{"header length", func() error { _, err := readNPY(bytes.NewReader(v2), int64(len(v2)), nil); return err },
			64 << 10, "truncated .npy header (unexpected EOF): 1048576 bytes declared, 8 present"},
	}
	for _, c := range cases {
		var err error
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err = c.read()
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > c.limit {
			t.Errorf("%s: allocated %d bytes, want at most %d", c.name, got, c.limit)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// TestReadRefusesAbsurdShapes: NumPy arrays have at most 64 dimensions, and
// a dimension must fit in an int (before the fix, a 100000-dimension shape
// was parsed and a too-large dimension was called "not an integer").
func TestReadRefusesAbsurdShapes(t *testing.T) {
	cases := map[string]string{
		"(" + strings.Repeat("1, ", 65) + ")": "shape has more than 64 dimensions",
		"(99999999999999999999,)":             "shape dimension 99999999999999999999 is too large",
	}
	for shape, want := range cases {
		data := npyEntry("{'descr': '<f8', 'fortran_order': False, 'shape': "+shape+", }\n", make([]byte, 8))
		_, err := readNPY(bytes.NewReader(data), int64(len(data)), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("shape %.20s...: error %v, want one containing %q", shape, err, want)
		}
	}
}

// TestUnsupportedDTypesListTheSupported: every dtype refusal says what is
// supported (before the fix, descriptors that were not 3 bytes long, such as
// "<c16" or "<U10", and odd byte orders got a bare "unsupported dtype").
func TestUnsupportedDTypesListTheSupported(t *testing.T) {
	for _, descr := range []string{"<c16", "<U10", "=f8", "|f8", "<f2", "O"} {
		data := npyEntry("{'descr': '"+descr+"', 'fortran_order': False, 'shape': (1,), }\n", make([]byte, 16))
		_, err := readNPY(bytes.NewReader(data), int64(len(data)), nil)
		want := "(supported: float64, float32, int8-64, uint8-64, bool)"
		if err == nil || !strings.Contains(err.Error(), `unsupported dtype "`+descr+`"`) || !strings.Contains(err.Error(), want) {
			t.Errorf("dtype %q: error %v, want one naming it and containing %q", descr, err, want)
		}
	}
}

// TestReadFileDirectory: a directory named like an archive gets its own
// message (before, the zip layer's "read …: is a directory" repeated the path).
func TestReadFileDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d.npz")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(dir)
	if want := dir + ": is a directory, expected an NPZ archive"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

func TestReadUnsupportedNumPyFiles(t *testing.T) {
	cases := map[string]string{
		"missing.npz":   "missing.npz: cannot read: no such file or directory",
		"bigendian.npz": `bigendian.npz: array "a": unsupported dtype ">f8": big-endian`,
		"complex.npz":   `complex.npz: array "a": unsupported dtype "<c16"`,
	}
	for file, want := range cases {
		_, err := ReadFile(filepath.Join(fixtures, file))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", file, err, want)
		}
	}
}

// TestReadTruncated cuts a NumPy file at every length: each prefix must give
// an error, never a panic or a silently shorter array.
func TestReadTruncated(t *testing.T) {
	for _, file := range []string{"stored.npz", "compressed.npz"} {
		data, err := os.ReadFile(filepath.Join(fixtures, file))
		if err != nil {
			t.Fatal(err)
		}
		for n := range len(data) {
			if _, err := Read(bytes.NewReader(data[:n]), int64(n)); err == nil {
				t.Fatalf("%s cut to %d bytes: no error", file, n)
			}
		}
	}
}

// TestReadCorrupted flips each byte of a Go-written file: reading may
// succeed (a flipped data byte is still a number) but must never panic.
func TestReadCorrupted(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, Archive{{"x", FromFloat64([]int{2, 2}, []float64{1, 2, 3, 4})}}); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	for i := range data {
		bad := bytes.Clone(data)
		bad[i] ^= 0xff
		Read(bytes.NewReader(bad), int64(len(bad)))
	}
}

// TestNumPyReadsGoFiles checks the writer against NumPy itself when it is
// installed.
func TestNumPyReadsGoFiles(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import numpy").Run(); err != nil {
		t.Skipf("skipping: %s with numpy is not available (%v)", python, err)
	}
	path := filepath.Join(t.TempDir(), "go.npz")
	err := WriteFile(path, Archive{
		{"x", FromFloat64([]int{2, 3}, []float64{1, 2, 3, 4, 5, 0.1})},
		{"id", FromInt64([]int{2}, []int64{-5, 1 << 40})},
		{"meta", FromBytes([]byte(`{"k": "v"}`))},
		{"dt", FromFloat64([]int{}, []float64{0.25})},
	})
	if err != nil {
		t.Fatal(err)
	}
	script := `
import json, sys
import numpy as np
with np.load(sys.argv[1]) as d:
    out = {k: {"dtype": d[k].dtype.str, "shape": list(d[k].shape), "data": d[k].ravel().tolist(),
               "aligned": d[k].flags.aligned} for k in d.files}
print(json.dumps(out))
`
	stdout, err := exec.Command(python, "-c", script, path).Output()
	if err != nil {
		t.Fatalf("numpy failed to read the file: %v", err)
	}
	type loaded struct {
		DType   string    `json:"dtype"`
		Shape   []int     `json:"shape"`
		Data    []float64 `json:"data"`
		Aligned bool      `json:"aligned"`
	}
	var got map[string]loaded
	if err := json.Unmarshal(stdout, &got); err != nil {
		t.Fatalf("%v in %s", err, stdout)
	}
	want := map[string]loaded{
		"x":    {"<f8", []int{2, 3}, []float64{1, 2, 3, 4, 5, 0.1}, true},
		"id":   {"<i8", []int{2}, []float64{-5, 1 << 40}, true},
		"meta": {"|u1", []int{10}, []float64{'{', '"', 'k', '"', ':', ' ', '"', 'v', '"', '}'}, true},
		"dt":   {"<f8", []int{}, []float64{0.25}, true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("numpy read %+v, want %+v", got, want)
	}
}
