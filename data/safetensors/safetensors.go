// Package safetensors reads and writes the Hugging Face safetensors format
// (https://github.com/huggingface/safetensors): an 8-byte little-endian
// unsigned header length N, N bytes of JSON header, then the data buffer.
//
// The header maps each tensor name to {"dtype", "shape", "data_offsets":
// [begin, end]} (byte offsets into the data buffer) and may hold a
// "__metadata__" object of string values. Tensors are stored contiguous,
// row-major and little-endian; the buffer is covered exactly, with no holes or
// overlaps. The writer pads the header with spaces to a multiple of 8 bytes,
// as the reference implementation does.
//
// Supported dtypes: F64 and I64 (read and written) and F32 (read, widened to
// float64).
package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/jkonet-gpu/jkonet-gpu/internal/atomicfile"
	"github.com/jkonet-gpu/jkonet-gpu/internal/membudget"
)

// Tensor is one array. A float tensor (F64, or F32 widened on read) has its
// values in Data; an I64 tensor has them in Int. The writer stores a tensor
// with a non-nil Int as I64 and any other as F64.
type Tensor struct {
	Shape []int // empty for a scalar
	Data  []float64
	Int   []int64
}

const (
	metadataKey = "__metadata__"
	// headerAlign is the multiple the writer pads the header length to.
	headerAlign = 8
	// maxHeaderLen bounds the JSON header, as the reference reader does.
	maxHeaderLen = 100_000_000
)

// itemSizes lists the dtypes this package reads, with their byte sizes.
var itemSizes = map[string]int{"F64": 8, "F32": 4, "I64": 8}

// WriteFile writes tensors and metadata to path atomically (see Write).
func WriteFile(path string, tensors map[string]Tensor, meta map[string]string) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		if err := Write(w, tensors, meta); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	})
}

// Write encodes tensors and metadata. The output is deterministic: metadata
// keys and tensors appear in sorted order (tensor data too), and the
// "__metadata__" entry, left out when meta is empty, comes first.
func Write(w io.Writer, tensors map[string]Tensor, meta map[string]string) error {
	names := sortedKeys(tensors)
	var header bytes.Buffer
	header.WriteByte('{')
	if len(meta) > 0 {
		header.WriteString(`"` + metadataKey + `":{`)
		for i, k := range sortedKeys(meta) {
			if !utf8.ValidString(k) || !utf8.ValidString(meta[k]) {
				return fmt.Errorf("metadata %q: not valid UTF-8", k)
			}
			if i > 0 {
				header.WriteByte(',')
			}
			header.WriteString(jsonString(k) + ":" + jsonString(meta[k]))
		}
		header.WriteByte('}')
	}
	offset := 0
	for i, name := range names {
		t := tensors[name]
		if err := checkTensor(name, t); err != nil {
			return err
		}
		dtype, n := "F64", len(t.Data)
		if t.Int != nil {
			dtype, n = "I64", len(t.Int)
		}
		if i > 0 || len(meta) > 0 {
			header.WriteByte(',')
		}
		fmt.Fprintf(&header, `%s:{"dtype":"%s","shape":[`, jsonString(name), dtype)
		for j, s := range t.Shape {
			if j > 0 {
				header.WriteByte(',')
			}
			header.WriteString(strconv.Itoa(s))
		}
		fmt.Fprintf(&header, `],"data_offsets":[%d,%d]}`, offset, offset+8*n)
		offset += 8 * n
	}
	header.WriteByte('}')
	for header.Len()%headerAlign != 0 {
		header.WriteByte(' ')
	}

	out := binary.LittleEndian.AppendUint64(nil, uint64(header.Len()))
	if _, err := w.Write(append(out, header.Bytes()...)); err != nil {
		return err
	}
	buf := make([]byte, 0, 1<<16)
	flush := func() error {
		_, err := w.Write(buf)
		buf = buf[:0]
		return err
	}
	for _, name := range names {
		t := tensors[name]
		for i := range max(len(t.Data), len(t.Int)) {
			var bits uint64
			if t.Int != nil {
				bits = uint64(t.Int[i])
			} else {
				bits = math.Float64bits(t.Data[i])
			}
			buf = binary.LittleEndian.AppendUint64(buf, bits)
			if len(buf) == cap(buf) {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	return flush()
}

func checkTensor(name string, t Tensor) error {
	switch {
	case name == metadataKey:
		return fmt.Errorf("tensor name %q is reserved for the metadata", name)
	case !utf8.ValidString(name):
		return fmt.Errorf("tensor name %q: not valid UTF-8", name)
	case t.Data != nil && t.Int != nil:
		return fmt.Errorf("tensor %q: has both float and integer data", name)
	}
	n := 1
	for _, s := range t.Shape {
		if s < 0 {
			return fmt.Errorf("tensor %q: negative dimension in shape %v", name, t.Shape)
		}
		if s == 0 {
			n = 0
		}
	}
	for _, s := range t.Shape { // the count of a non-empty tensor must fit in an int
		if n > 0 && n > math.MaxInt/s {
			return fmt.Errorf("tensor %q: shape %v has too many elements", name, t.Shape)
		}
		n *= s
	}
	if got := max(len(t.Data), len(t.Int)); got != n {
		return fmt.Errorf("tensor %q: shape %v needs %d values, got %d", name, t.Shape, n, got)
	}
	return nil
}

// jsonString quotes s as a JSON string, leaving <, > and & unescaped.
func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // a valid UTF-8 string always encodes
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ReadFile reads every tensor and the metadata of the file at path. Errors are
// one line that starts with path.
func ReadFile(path string) (map[string]Tensor, map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: cannot read: %v", path, pathErrorReason(err))
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: cannot read: %v", path, pathErrorReason(err))
	}
	if info.IsDir() {
		return nil, nil, fmt.Errorf("%s: is a directory, expected a safetensors file", path)
	}
	tensors, meta, err := Read(f, info.Size())
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return tensors, meta, nil
}

// headerEntry is a tensor's entry in the JSON header.
type headerEntry struct {
	DType   *string  `json:"dtype"`
	Shape   *[]int64 `json:"shape"`
	Offsets *[]int64 `json:"data_offsets"`
}

// span is a validated tensor entry: its dtype, shape and byte range in the
// data buffer.
type span struct {
	name       string
	dtype      string
	shape      []int
	begin, end int64
}

// Read decodes a safetensors file of size bytes. The metadata map is empty
// (not nil) when the file has none.
func Read(r io.ReaderAt, size int64) (map[string]Tensor, map[string]string, error) {
	if size < 8 {
		return nil, nil, fmt.Errorf("not a safetensors file: %d bytes, too short for the 8-byte header length", size)
	}
	var lenBytes [8]byte
	if _, err := r.ReadAt(lenBytes[:], 0); err != nil {
		return nil, nil, fmt.Errorf("cannot read the header length: %w", err)
	}
	headerLen := binary.LittleEndian.Uint64(lenBytes[:])
	if headerLen > uint64(size-8) || headerLen > maxHeaderLen {
		return nil, nil, fmt.Errorf("not a safetensors file: header length %d does not fit in the %d bytes that follow (limit %d)",
			headerLen, size-8, maxHeaderLen)
	}
	// What the file declares is counted against the memory budget before
	// it is allocated: the header (held twice while the JSON decoder
	// buffers it), then each tensor's bytes and the values they decode to.
	// The bounds relative to the file's size let a large file ask for all
	// of it; the budget keeps that within what the machine leaves.
	need := 2 * int64(headerLen)
	if err := membudget.Check(need); err != nil {
		return nil, nil, fmt.Errorf("header of %d bytes: %w", headerLen, err)
	}
	header := make([]byte, headerLen)
	if _, err := r.ReadAt(header, 8); err != nil {
		return nil, nil, fmt.Errorf("cannot read the header: %w", err)
	}
	bufLen := size - 8 - int64(headerLen)
	spans, meta, err := parseHeader(header, bufLen)
	if err != nil {
		return nil, nil, fmt.Errorf("header: %w", err)
	}
	if err := checkCoverage(spans, bufLen); err != nil {
		return nil, nil, err
	}
	tensors := make(map[string]Tensor, len(spans))
	for _, s := range spans {
		need += s.end - s.begin + decodedBytes(s)
		if err := membudget.Check(need); err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %s shape %v: %w", s.name, s.dtype, s.shape, err)
		}
		raw := make([]byte, s.end-s.begin)
		// ReaderAt may report io.EOF for an empty read at the end of the file.
		if _, err := r.ReadAt(raw, 8+int64(headerLen)+s.begin); err != nil && len(raw) > 0 {
			return nil, nil, fmt.Errorf("tensor %q: cannot read its data: %w", s.name, err)
		}
		tensors[s.name] = decode(s, raw)
	}
	return tensors, meta, nil
}

// parseHeader reads the JSON header: the metadata and each tensor's entry,
// checked against the dtypes and the data buffer length, in header order.
func parseHeader(header []byte, bufLen int64) ([]span, map[string]string, error) {
	if !utf8.Valid(header) {
		return nil, nil, errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(header))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, errors.New("not a JSON object")
	}
	meta := map[string]string{}
	var spans []span
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("bad JSON (%w)", err)
		}
		name := tok.(string) // object keys are strings once the token is valid
		if seen[name] {
			return nil, nil, fmt.Errorf("%q appears twice", name)
		}
		seen[name] = true
		if name == metadataKey {
			if err := dec.Decode(&meta); err != nil {
				return nil, nil, fmt.Errorf("%s: expected an object of string values (%v)", metadataKey, jsonReason(err))
			}
			if meta == nil { // "__metadata__": null
				meta = map[string]string{}
			}
			continue
		}
		var e headerEntry
		if err := dec.Decode(&e); err != nil {
			return nil, nil, fmt.Errorf("tensor %q: bad entry (%v)", name, jsonReason(err))
		}
		s, err := checkEntry(name, e, bufLen)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		spans = append(spans, s)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, nil, fmt.Errorf("bad JSON (%w)", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, errors.New("unexpected data after the JSON object")
	}
	return spans, meta, nil
}

// jsonReason words a decoding error without Go type names.
func jsonReason(err error) string {
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) {
		return err.Error()
	}
	if typeErr.Field == "" {
		return "unexpected " + typeErr.Value
	}
	return fmt.Sprintf("%s: unexpected %s", typeErr.Field, typeErr.Value)
}

func checkEntry(name string, e headerEntry, bufLen int64) (span, error) {
	if e.DType == nil || e.Shape == nil || e.Offsets == nil {
		return span{}, errors.New(`entry needs "dtype", "shape" and "data_offsets"`)
	}
	itemSize, ok := itemSizes[*e.DType]
	if !ok {
		return span{}, fmt.Errorf("dtype %q is not supported (want F64, F32 or I64)", *e.DType)
	}
	if len(*e.Offsets) != 2 {
		return span{}, fmt.Errorf("data_offsets %v: expected [begin, end]", *e.Offsets)
	}
	begin, end := (*e.Offsets)[0], (*e.Offsets)[1]
	if begin < 0 || end < begin || end > bufLen {
		return span{}, fmt.Errorf("data_offsets [%d, %d] out of range (the data buffer has %d bytes)", begin, end, bufLen)
	}
	shape := make([]int, len(*e.Shape))
	empty := false // a zero dimension anywhere makes the tensor empty, whatever the others say
	for i, s := range *e.Shape {
		if s < 0 {
			return span{}, fmt.Errorf("negative dimension in shape %v", *e.Shape)
		}
		empty = empty || s == 0
		shape[i] = int(s)
	}
	elems := int64(0)
	if !empty {
		elems = 1
		for _, s := range *e.Shape {
			if elems > bufLen/s { // more elements than the buffer could hold
				return span{}, fmt.Errorf("shape %v is larger than the %d-byte data buffer", *e.Shape, bufLen)
			}
			elems *= s
		}
	}
	if want := elems * int64(itemSize); end-begin != want {
		return span{}, fmt.Errorf("data_offsets [%d, %d] hold %d bytes, but %s shape %v needs %d", begin, end, end-begin, *e.DType, *e.Shape, want)
	}
	return span{name: name, dtype: *e.DType, shape: shape, begin: begin, end: end}, nil
}

// checkCoverage requires the byte ranges to tile the data buffer exactly: no
// overlaps, no holes, nothing after the last tensor.
func checkCoverage(spans []span, bufLen int64) error {
	sorted := slices.Clone(spans)
	slices.SortFunc(sorted, func(a, b span) int {
		return cmp.Or(cmp.Compare(a.begin, b.begin), cmp.Compare(a.end, b.end))
	})
	var covered int64
	prev := ""
	for _, s := range sorted {
		switch {
		case s.begin < covered:
			return fmt.Errorf("tensors %q and %q overlap in the data buffer", prev, s.name)
		case s.begin > covered:
			return fmt.Errorf("bytes [%d, %d) of the data buffer belong to no tensor", covered, s.begin)
		}
		if s.end > s.begin {
			covered, prev = s.end, s.name
		}
	}
	if covered != bufLen {
		return fmt.Errorf("bytes [%d, %d) of the data buffer belong to no tensor", covered, bufLen)
	}
	return nil
}

// decodedBytes is what decode allocates for a tensor: 8 bytes a value.
func decodedBytes(s span) int64 { return (s.end - s.begin) / int64(itemSizes[s.dtype]) * 8 }

func decode(s span, raw []byte) Tensor {
	t := Tensor{Shape: s.shape}
	switch s.dtype {
	case "F64":
		t.Data = make([]float64, len(raw)/8)
		for i := range t.Data {
			t.Data[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
		}
	case "F32":
		t.Data = make([]float64, len(raw)/4)
		for i := range t.Data {
			t.Data[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
		}
	case "I64":
		t.Int = make([]int64, len(raw)/8)
		for i := range t.Int {
			t.Int[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
		}
	}
	return t
}

func pathErrorReason(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
