package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/internal/fuzzcheck"
	"github.com/jkonet-gpu/jkonet-gpu/internal/membudget"
)

// sampleTensors covers shapes (matrix, scalar, empty), special float values
// and both written dtypes.
func sampleTensors() (map[string]Tensor, map[string]string) {
	tensors := map[string]Tensor{
		"theta_V": {Shape: []int{2, 3}, Data: []float64{1.5, -2, 0.1, math.Inf(1), math.Inf(-1), math.Copysign(0, -1)}},
		"beta":    {Shape: []int{}, Data: []float64{5e-324}},
		"zero":    {Shape: []int{0, 4}, Data: []float64{}}, // sorts last: an empty read at the end of the file
		"steps":   {Shape: []int{3}, Int: []int64{math.MinInt64, -1, math.MaxInt64}},
		"nan":     {Shape: []int{1}, Data: []float64{math.NaN()}},
	}
	meta := map[string]string{"kind": "linear", "note": `quote " <tag> & newline` + "\n" + "π ≤ 4"}
	return tensors, meta
}

// sameTensors compares values bit for bit (so NaN and −0 count).
func sameTensors(t *testing.T, got, want map[string]Tensor) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d tensors, want %d", len(got), len(want))
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("tensor %q missing", name)
			continue
		}
		if !slices.Equal(g.Shape, w.Shape) {
			t.Errorf("%q: shape %v, want %v", name, g.Shape, w.Shape)
		}
		if (g.Int != nil) != (w.Int != nil) || !slices.Equal(g.Int, w.Int) || len(g.Data) != len(w.Data) {
			t.Errorf("%q: values %v %v, want %v %v", name, g.Data, g.Int, w.Data, w.Int)
			continue
		}
		for i := range w.Data {
			if math.Float64bits(g.Data[i]) != math.Float64bits(w.Data[i]) {
				t.Errorf("%q[%d] = %v, want %v", name, i, g.Data[i], w.Data[i])
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	tensors, meta := sampleTensors()
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := WriteFile(path, tensors, meta); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fromFile := func() (map[string]Tensor, map[string]string, error) { return ReadFile(path) }
	fromMemory := func() (map[string]Tensor, map[string]string, error) {
		return Read(bytes.NewReader(data), int64(len(data)))
	}
	for _, read := range []func() (map[string]Tensor, map[string]string, error){fromFile, fromMemory} {
		got, gotMeta, err := read()
		if err != nil {
			t.Fatal(err)
		}
		sameTensors(t, got, tensors)
		if !reflect.DeepEqual(gotMeta, meta) {
			t.Errorf("metadata %q, want %q", gotMeta, meta)
		}
	}

	// No metadata: the entry is left out, and reads back as an empty map.
	var buf bytes.Buffer
	if err := Write(&buf, map[string]Tensor{"x": {Shape: []int{1}, Data: []float64{2}}}, nil); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte(metadataKey)) {
		t.Error("empty metadata was written")
	}
	_, gotMeta, err := Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil || gotMeta == nil || len(gotMeta) != 0 {
		t.Errorf("metadata %v, error %v; want an empty map", gotMeta, err)
	}
}

// TestWriteBytes checks the writer's exact output, built here by hand from
// the format: sorted entries, offsets in that order, header padded with spaces
// to a multiple of 8, little-endian data. It also checks that repeated writes
// (maps iterate in random order) give the same bytes.
func TestWriteBytes(t *testing.T) {
	tensors := map[string]Tensor{
		"b": {Shape: []int{2}, Data: []float64{1, -2}},
		"a": {Shape: []int{1, 1}, Int: []int64{7}},
	}
	meta := map[string]string{"kind": "linear", "d": "2"}
	header := `{"__metadata__":{"d":"2","kind":"linear"},` +
		`"a":{"dtype":"I64","shape":[1,1],"data_offsets":[0,8]},` +
		`"b":{"dtype":"F64","shape":[2],"data_offsets":[8,24]}}`
	header += strings.Repeat(" ", (8-len(header)%8)%8)
	want := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	want = append(want, header...)
	want = binary.LittleEndian.AppendUint64(want, 7)
	want = binary.LittleEndian.AppendUint64(want, math.Float64bits(1))
	want = binary.LittleEndian.AppendUint64(want, math.Float64bits(-2))
	for range 20 {
		var buf bytes.Buffer
		if err := Write(&buf, tensors, meta); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Fatalf("written bytes\n%q\nwant\n%q", buf.Bytes(), want)
		}
	}
}

// handBuiltFile follows the format as another writer may use it: entries in
// arbitrary order with whitespace, no padding, an F32 tensor, offsets not in
// name order.
func handBuiltFile() []byte {
	header := `{ "w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [16, 32]},
	  "__metadata__": {"format": "np"}, "ids": {"shape": [2], "dtype": "I64", "data_offsets": [0, 16]},
	  "s": {"dtype": "F64", "shape": [], "data_offsets": [32, 40]} }`
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	b = binary.LittleEndian.AppendUint64(b, 3)
	b = binary.LittleEndian.AppendUint64(b, uint64(1<<64-5)) // −5
	for _, v := range []float32{0.5, -1.25, 3e38, 1e-45} {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(math.Pi))
}

func TestReadHandBuilt(t *testing.T) {
	data := handBuiltFile()
	got, meta, err := Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	sameTensors(t, got, map[string]Tensor{
		"ids": {Shape: []int{2}, Int: []int64{3, -5}},
		"w":   {Shape: []int{2, 2}, Data: []float64{0.5, -1.25, float64(float32(3e38)), float64(float32(1e-45))}},
		"s":   {Shape: []int{}, Data: []float64{math.Pi}},
	})
	if !reflect.DeepEqual(meta, map[string]string{"format": "np"}) {
		t.Errorf("metadata %v", meta)
	}
}

// withHeader builds a file from a header and a data buffer of n zero bytes.
func withHeader(header string, n int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), make([]byte, n)...)
}

func TestReadBadFiles(t *testing.T) {
	const f64x2 = `"dtype":"F64","shape":[2]`
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"too short", []byte{1, 2, 3, 4, 5}, "5 bytes, too short"},
		{"header length beyond the file", binary.LittleEndian.AppendUint64(nil, 100), "header length 100 does not fit in the 0 bytes"},
		{"absurd header length", append(binary.LittleEndian.AppendUint64(nil, math.MaxUint64), "{}"...), "header length 18446744073709551615"},
		{"empty header", withHeader("", 0), "not a JSON object"},
		{"array header", withHeader("[]", 0), "not a JSON object"},
		{"bad JSON", withHeader(`{"a":{`, 0), "bad entry"},
		{"unterminated object", withHeader(`{"a":{"dtype":"F64","shape":[0],"data_offsets":[0,0]}`, 0), "bad JSON"},
		{"trailing data", withHeader(`{} x`, 0), "after the JSON object"},
		{"invalid UTF-8", withHeader("{\"\xff\":1}", 0), "UTF-8"},
		{"metadata not strings", withHeader(`{"__metadata__":{"n":1}}`, 0), "__metadata__: expected an object of string values"},
		{"duplicate name", withHeader(`{"a":{"dtype":"F64","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"F64","shape":[0],"data_offsets":[0,0]}}`, 0), `"a" appears twice`},
		{"entry not an object", withHeader(`{"a":5}`, 0), `tensor "a": bad entry`},
		{"missing offsets", withHeader(`{"a":{`+f64x2+`}}`, 16), "needs"},
		{"unknown dtype", withHeader(`{"a":{"dtype":"Q9","shape":[2],"data_offsets":[0,16]}}`, 16), `dtype "Q9" is not supported`},
		{"negative dimension", withHeader(`{"a":{"dtype":"F64","shape":[-2],"data_offsets":[0,16]}}`, 16), "negative dimension"},
		{"huge shape", withHeader(`{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,16]}}`, 16), "larger than"},
		{"one offset", withHeader(`{"a":{`+f64x2+`,"data_offsets":[16]}}`, 16), "expected [begin, end]"},
		{"offsets out of range", withHeader(`{"a":{`+f64x2+`,"data_offsets":[8,24]}}`, 16), "out of range"},
		{"offsets reversed", withHeader(`{"a":{"dtype":"F64","shape":[0],"data_offsets":[8,0]}}`, 16), "out of range"},
		{"size mismatch", withHeader(`{"a":{`+f64x2+`,"data_offsets":[0,8]}}`, 16), "hold 8 bytes, but F64 shape [2] needs 16"},
		{"overlap", withHeader(`{"a":{`+f64x2+`,"data_offsets":[0,16]},"b":{`+f64x2+`,"data_offsets":[8,24]}}`, 24), "overlap"},
		{"hole", withHeader(`{"a":{`+f64x2+`,"data_offsets":[8,24]}}`, 24), "bytes [0, 8) of the data buffer belong to no tensor"},
		{"trailing bytes", withHeader(`{"a":{`+f64x2+`,"data_offsets":[0,16]}}`, 20), "bytes [16, 20)"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".safetensors")
		if err := os.WriteFile(path, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := ReadFile(path)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, path+": ") || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
			t.Errorf("%s: error %q, want one line starting with the path and containing %q", c.name, msg, c.want)
		}
	}

	missing := filepath.Join(dir, "missing.safetensors")
	if _, _, err := ReadFile(missing); err == nil || !strings.Contains(err.Error(), missing+": cannot read: no such file") {
		t.Errorf("missing file: %v", err)
	}
	if _, _, err := ReadFile(dir); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: %v", err)
	}
}

// TestEmptyTensors: a tensor with a zero dimension is empty whatever its
// other dimensions. Before the fix the reader refused shape [4, 0] when the
// data buffer had fewer than 4 bytes ("larger than the 0-byte data buffer"),
// so a file the writer made did not read back, and the writer refused
// [2^62, 2^62, 0] as "too many elements".
func TestEmptyTensors(t *testing.T) {
	for _, shape := range [][]int{{4, 0}, {0, 4}, {1 << 62, 1 << 62, 0}, {3, 0, 1 << 62}} {
		tensors := map[string]Tensor{"a": {Shape: shape, Data: []float64{}}}
		var buf bytes.Buffer
		if err := Write(&buf, tensors, nil); err != nil {
			t.Errorf("shape %v: write: %v", shape, err)
			continue
		}
		got, _, err := Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Errorf("shape %v: read: %v", shape, err)
			continue
		}
		sameTensors(t, got, tensors)
	}
}

func TestWriteBadTensors(t *testing.T) {
	cases := []struct {
		name    string
		tensors map[string]Tensor
		meta    map[string]string
		want    string
	}{
		{"shape mismatch", map[string]Tensor{"a": {Shape: []int{2, 3}, Data: make([]float64, 5)}}, nil, `tensor "a": shape [2 3] needs 6 values, got 5`},
		{"negative dimension", map[string]Tensor{"a": {Shape: []int{-1}}}, nil, "negative dimension"},
		{"overflowing shape", map[string]Tensor{"a": {Shape: []int{1 << 40, 1 << 40}}}, nil, "too many elements"},
		{"both dtypes", map[string]Tensor{"a": {Shape: []int{1}, Data: []float64{1}, Int: []int64{1}}}, nil, "both float and integer"},
		{"reserved name", map[string]Tensor{metadataKey: {Shape: []int{0}}}, nil, "reserved"},
		{"invalid UTF-8 name", map[string]Tensor{"\xff": {Shape: []int{0}}}, nil, "UTF-8"},
		{"invalid UTF-8 metadata", nil, map[string]string{"k": "\xff"}, "UTF-8"},
	}
	for _, c := range cases {
		path := filepath.Join(t.TempDir(), "out.safetensors")
		err := WriteFile(path, c.tensors, c.meta)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming the path and containing %q", c.name, err, c.want)
		}
		if _, statErr := os.Stat(path); !errors.Is(statErr, os.ErrNotExist) {
			t.Errorf("%s: a failed write left %s behind", c.name, path)
		}
	}
}

// pythonReader decodes a safetensors file with only json and struct, checks
// the header padding, and prints the tensors with floats as float.hex().
const pythonReader = `
import json, struct, sys
data = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", data[:8])
assert n % 8 == 0 and data[8 + n - 1:8 + n] in (b"}", b" "), "header not padded to 8 bytes"
header = json.loads(data[8:8 + n].decode("utf-8"))
buf = data[8 + n:]
out = {"__metadata__": header.pop("__metadata__", {})}
for name, e in header.items():
    begin, end = e["data_offsets"]
    code = {"F64": "d", "F32": "f", "I64": "q"}[e["dtype"]]
    values = struct.unpack("<%d%s" % ((end - begin) // struct.calcsize(code), code), buf[begin:end])
    out[name] = {"shape": e["shape"], "values": [v.hex() if isinstance(v, float) else v for v in values]}
print(json.dumps(out))
`

// TestPythonReadsGoFile has Python decode a file written here with json and
// struct alone (skipped without /usr/bin/python3).
func TestPythonReadsGoFile(t *testing.T) {
	python := systemPython(t)
	tensors, meta := sampleTensors()
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := WriteFile(path, tensors, meta); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(python, "-c", pythonReader, path).Output()
	if err != nil {
		t.Fatalf("python3 reader: %v", err)
	}
	var decoded map[string]json.RawMessage
	if err := json.Unmarshal(out, &decoded); err != nil {
		t.Fatalf("python3 output %q: %v", out, err)
	}
	var gotMeta map[string]string
	if err := json.Unmarshal(decoded[metadataKey], &gotMeta); err != nil || !reflect.DeepEqual(gotMeta, meta) {
		t.Errorf("python3 read metadata %v (%v), want %v", gotMeta, err, meta)
	}
	delete(decoded, metadataKey)
	got := map[string]Tensor{}
	for name, raw := range decoded {
		var entry struct {
			Shape  []int
			Values []json.RawMessage
		}
		if err := json.Unmarshal(raw, &entry); err != nil {
			t.Fatal(err)
		}
		tensor := Tensor{Shape: entry.Shape}
		for _, v := range entry.Values {
			if hex, err := strconv.Unquote(string(v)); err == nil {
				f, err := strconv.ParseFloat(hex, 64)
				if err != nil {
					t.Fatalf("%s: value %s: %v", name, hex, err)
				}
				tensor.Data = append(tensor.Data, f)
			} else {
				i, err := strconv.ParseInt(string(v), 10, 64)
				if err != nil {
					t.Fatalf("%s: value %s: %v", name, v, err)
				}
				tensor.Int = append(tensor.Int, i)
			}
		}
		got[name] = tensor
	}
	nan := got["nan"]
	if len(nan.Data) != 1 || !math.IsNaN(nan.Data[0]) {
		t.Errorf("python3 read nan = %v", nan.Data)
	}
	delete(got, "nan")
	delete(tensors, "nan")
	sameTensors(t, got, tensors)
}

// pythonWriter writes a safetensors file from the format's description
// alone (8-byte little-endian header length, a JSON header padded with
// spaces to 8 bytes, tensors in sorted order), with numpy's dtypes and
// byte layout: an implementation independent of this package. Exit 3:
// numpy missing.
const pythonWriter = `
import json, struct, sys
try:
    import numpy as np
except ImportError:
    sys.exit(3)
tensors = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "i": np.array([4, -9], dtype=np.int64),
           "d": np.array([0.1, -0.0]), "s": np.array(2.5)}
header, blobs, offset = {"__metadata__": {"kind": "python"}}, [], 0
for name in sorted(tensors):
    a = np.array(tensors[name], order="C")  # ascontiguousarray would make a scalar 1-D
    b = a.astype(a.dtype.newbyteorder("<")).tobytes()
    header[name] = {"dtype": {"float32": "F32", "int64": "I64", "float64": "F64"}[a.dtype.name],
                    "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
    blobs.append(b)
    offset += len(b)
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
`

// TestGoReadsPythonFile reads a file that numpy wrote (skipped without
// /usr/bin/python3 or numpy). Debian packages no safetensors library, so the
// writer follows the format's description itself.
func TestGoReadsPythonFile(t *testing.T) {
	python := systemPython(t)
	path := filepath.Join(t.TempDir(), "py.safetensors")
	out, err := exec.Command(python, "-c", pythonWriter, path).CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 3 {
		t.Skip(python + " has no numpy")
	}
	if err != nil {
		t.Fatalf("python writer: %v\n%s", err, out)
	}
	got, gotMeta, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sameTensors(t, got, map[string]Tensor{
		"w": {Shape: []int{2, 3}, Data: []float64{0, 1, 2, 3, 4, 5}},
		"i": {Shape: []int{2}, Int: []int64{4, -9}},
		"d": {Shape: []int{2}, Data: []float64{0.1, math.Copysign(0, -1)}},
		"s": {Shape: []int{}, Data: []float64{2.5}},
	})
	if !math.Signbit(got["d"].Data[1]) {
		t.Error("-0.0 lost its sign")
	}
	if len(gotMeta) != 1 || gotMeta["kind"] != "python" {
		t.Errorf("metadata %v", gotMeta)
	}
}

// systemPython is the interpreter every peer check uses (bench.Python):
// Debian's, where `make peers` installs the packages. Tests skip without it.
func systemPython(t *testing.T) string {
	const python = "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		t.Skip(python + " not found")
	}
	return python
}

// FuzzRead: any input gives a tensor set or an error, never a panic. An
// error is one line; Read allocates at most allocLimit of the input's size;
// tensors read have one kind of values, as many as their shape says, and
// write and re-read to the same values. Seeds: f.Add below and
// testdata/fuzz/FuzzRead.
func FuzzRead(f *testing.F) {
	tensors, meta := sampleTensors()
	var written bytes.Buffer
	if err := Write(&written, tensors, meta); err != nil {
		f.Fatal(err)
	}
	f.Add(written.Bytes())
	f.Add(written.Bytes()[:written.Len()-3])
	f.Add(handBuiltFile())
	f.Add(withHeader(`{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}}`, 16))
	f.Add(withHeader(`{"__metadata__":null}`, 0))
	f.Add(binary.LittleEndian.AppendUint64(nil, math.MaxUint64))
	f.Add(withHeader(`{"a":{"dtype":"F64","shape":[4611686018427387904,4611686018427387904,0],"data_offsets":[0,0]}}`, 0))
	f.Add(withHeader(`{"a":{"dtype":"F32","shape":[1000000000000],"data_offsets":[0,4000000000000]}}`, 8))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got map[string]Tensor
		var gotMeta map[string]string
		var err error
		fuzzcheck.Alloc(t, int64(len(data)), fuzzcheck.PerByte, func() { got, gotMeta, err = Read(bytes.NewReader(data), int64(len(data))) })
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Errorf("error on several lines: %q", err)
			}
			return
		}
		if gotMeta == nil {
			t.Error("nil metadata map")
		}
		for name, tensor := range got {
			if err := checkTensor(name, tensor); err != nil { // shape ≥ 0, count fits in an int
				t.Fatalf("read a tensor the writer refuses: %v", err)
			}
			n := 1
			for _, s := range tensor.Shape {
				n *= s
			}
			if (tensor.Data == nil) == (tensor.Int == nil) || len(tensor.Data)+len(tensor.Int) != n {
				t.Errorf("tensor %q: %d floats, %d ints for shape %v", name, len(tensor.Data), len(tensor.Int), tensor.Shape)
			}
		}
		var again bytes.Buffer
		if err := Write(&again, got, gotMeta); err != nil {
			t.Fatalf("re-writing what was read: %v", err)
		}
		reread, rereadMeta, err := Read(bytes.NewReader(again.Bytes()), int64(again.Len()))
		if err != nil {
			t.Fatalf("re-reading: %v", err)
		}
		sameTensors(t, reread, got)
		if !reflect.DeepEqual(rereadMeta, gotMeta) {
			t.Errorf("metadata %v after a round trip, want %v", rereadMeta, gotMeta)
		}
	})
}

// TestMemoryBudget (issue 19): what a file declares (its header, each
// tensor's bytes and the float64 values they decode to) is counted against
// the memory budget (--max-memory) before it is allocated. An F32 tensor
// of 1000 values costs 4000 bytes read and 8000 decoded: a budget one byte
// short of header and tensor is refused in one line naming the tensor, the
// exact budget reads the file.
func TestMemoryBudget(t *testing.T) {
	t.Cleanup(func() { membudget.Set(0) })
	header := `{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"w":{"dtype":"F32","shape":[10,100],"data_offsets":[16,4016]}}`
	data := withHeader(header, 4016)
	need := int64(2*len(header) + 16 + 16 + 4000 + 8000)
	membudget.Set(need - 1)
	_, _, err := Read(bytes.NewReader(data), int64(len(data)))
	want := fmt.Sprintf(`tensor "w": F32 shape [10 100]: needs %d bytes of memory, more than the budget of %d (set by --max-memory)`, need, need-1)
	if err == nil || err.Error() != want {
		t.Errorf("budget %d: got %v\nwant %s", need-1, err, want)
	}
	membudget.Set(2*int64(len(header)) - 1)
	_, _, err = Read(bytes.NewReader(data), int64(len(data)))
	if want := fmt.Sprintf("header of %d bytes: needs", len(header)); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("budget below the header: got %v, want %q…", err, want)
	}
	membudget.Set(need)
	if _, _, err := Read(bytes.NewReader(data), int64(len(data))); err != nil {
		t.Errorf("budget %d: %v", need, err)
	}
}
