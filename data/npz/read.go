package npz

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/jkonet-gpu/jkonet-gpu/internal/membudget"
)

const magic = "\x93NUMPY"

// decodedPerArchiveByte and decodedSlack bound what one archive may decode
// to in all (the inflated data plus the float64 or int64 arrays it
// becomes): real arrays compress a few-fold at most, so an archive of a
// few MB that inflates to gigabytes (deflate reaches about 1000:1 on
// constant data) is refused before the memory is allocated.
const (
	decodedPerArchiveByte = 128
	decodedSlack          = 64 << 20
)

// maxHeaderLen bounds the dict of a .npy header; NumPy itself refuses
// headers over 10000 bytes by default.
const maxHeaderLen = 1 << 20

// ReadFile reads every array of the archive at path. Errors are one line
// that starts with path.
func ReadFile(path string) (Archive, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read: %v", path, pathErrorReason(err))
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read: %v", path, pathErrorReason(err))
	}
	if info.IsDir() {
		return nil, fmt.Errorf("%s: is a directory, expected an NPZ archive", path)
	}
	arch, err := Read(f, info.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return arch, nil
}

// Read reads every array of an archive of size bytes. Entry names lose
// their ".npy" suffix, as in np.load.
func Read(r io.ReaderAt, size int64) (Archive, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("not an NPZ archive (%w)", err)
	}
	var arch Archive
	budget := &decodeBudget{limit: decodedPerArchiveByte*max(size, 0) + decodedSlack, size: size}
	seen := map[string]bool{} // a map, not arch.Get: an archive may hold many thousands of entries
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") {
			continue
		}
		name := strings.TrimSuffix(f.Name, ".npy")
		if seen[name] {
			return nil, fmt.Errorf("array %q: stored twice", name)
		}
		seen[name] = true
		a, err := readEntry(f, size, budget)
		if err != nil {
			return nil, fmt.Errorf("array %q: %w", name, err)
		}
		arch = append(arch, Entry{Name: name, Array: a})
	}
	return arch, nil
}

func readEntry(f *zip.File, archiveSize int64, budget *decodeBudget) (*Array, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("cannot open entry (%w)", err)
	}
	defer rc.Close()
	return readNPY(rc, preallocLimit(f, archiveSize), budget)
}

// decodeBudget counts the bytes an archive's arrays decode to against
// limit (see decodedPerArchiveByte); nil: no bound.
type decodeBudget struct {
	limit, used, size int64
}

// spend counts the decoding of n items of itemSize bytes: the raw data and
// the 8-byte values it becomes.
func (b *decodeBudget) spend(shape []int, descr string, n, itemSize int) error {
	if b == nil {
		return nil
	}
	cost := int64(n) * int64(itemSize+8)
	if n > 0 && cost/int64(n) != int64(itemSize+8) || cost > b.limit-b.used {
		return fmt.Errorf("shape %s of %s decodes to %d bytes, more than a %d-byte archive may hold (with the arrays before it, at most %d)", FormatShape(shape), descr, cost, b.size, b.limit)
	}
	if err := membudget.Check(b.used + cost); err != nil {
		return fmt.Errorf("shape %s of %s (with the arrays before it): %w", FormatShape(shape), descr, err)
	}
	b.used += cost
	return nil
}

// readNPY decodes one .npy stream. prealloc bounds the buffer reserved for
// the data before any of it is read (see preallocLimit): beyond it the
// buffer grows only as bytes actually arrive, so a header that claims a
// huge shape costs nothing until the data is there.
func readNPY(r io.Reader, prealloc int64, budget *decodeBudget) (*Array, error) {
	h, err := readHeader(r)
	if err != nil {
		return nil, err
	}
	kind, itemSize, err := parseDType(h.descr)
	if err != nil {
		return nil, err
	}
	n, ok := elementCount(h.shape, itemSize)
	if !ok {
		return nil, fmt.Errorf("shape %s is too large", FormatShape(h.shape))
	}
	if err := budget.spend(h.shape, h.descr, n, itemSize); err != nil {
		return nil, err
	}
	want := int64(n) * int64(itemSize)
	raw, err := readData(r, want, prealloc)
	if err != nil {
		return nil, fmt.Errorf("cannot read data (%w)", err)
	}
	if int64(len(raw)) != want {
		if int64(len(raw)) < want {
			return nil, fmt.Errorf("data is truncated: shape %s of %s needs %d bytes, found %d", FormatShape(h.shape), h.descr, want, len(raw))
		}
		return nil, fmt.Errorf("data is longer than shape %s of %s says (%d bytes)", FormatShape(h.shape), h.descr, want)
	}
	a := &Array{DType: h.descr, Shape: h.shape}
	if err := decode(a, raw, kind, itemSize, n); err != nil {
		return nil, err
	}
	if h.fortran {
		a.Float = fortranToC(a.Float, h.shape)
		a.Int = fortranToC(a.Int, h.shape)
	}
	return a, nil
}

// fortranToC reorders data stored in Fortran (column-major) order into C
// (row-major) order. Element (i_0, …, i_{k-1}) sits at Σ_j i_j·Π_{l<j} s_l in
// Fortran order and at Σ_j i_j·Π_{l>j} s_l in C order; walking the Fortran
// data in storage order with an odometer over the indices (first index
// fastest) yields each element's C offset. Rank 0 and 1 are unchanged, as is
// a nil slice (the other dtype family).
func fortranToC[T any](data []T, shape []int) []T {
	if len(shape) < 2 || len(data) == 0 {
		return data
	}
	cStride := make([]int, len(shape)) // C-order stride of each axis
	cStride[len(shape)-1] = 1
	for j := len(shape) - 2; j >= 0; j-- {
		cStride[j] = cStride[j+1] * shape[j+1]
	}
	out := make([]T, len(data))
	index := make([]int, len(shape))
	offset := 0 // C offset of index
	for _, v := range data {
		out[offset] = v
		for j := range index {
			index[j]++
			offset += cStride[j]
			if index[j] < shape[j] {
				break
			}
			offset -= index[j] * cStride[j]
			index[j] = 0
		}
	}
	return out
}

// readHeader reads the magic, version, header length and header dict of a
// .npy stream. Versions 2.0 and 3.0 differ from 1.0 by a 4-byte length (and
// a UTF-8 rather than Latin-1 dict, which changes nothing for us).
func readHeader(r io.Reader) (header, error) {
	var prefix [len(magic) + 2]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return header{}, fmt.Errorf("not a .npy entry (%v)", shortRead(err))
	}
	if string(prefix[:len(magic)]) != magic {
		return header{}, errors.New("not a .npy entry (bad magic)")
	}
	major, minor := prefix[len(magic)], prefix[len(magic)+1]
	lenSize := map[byte]int{1: 2, 2: 4, 3: 4}[major] // bytes of the little-endian header length
	if lenSize == 0 {
		return header{}, fmt.Errorf("unsupported .npy format version %d.%d", major, minor)
	}
	var lenBytes [4]byte
	if _, err := io.ReadFull(r, lenBytes[:lenSize]); err != nil {
		return header{}, fmt.Errorf("truncated .npy header (%v)", shortRead(err))
	}
	headerLen := binary.LittleEndian.Uint32(lenBytes[:])
	if headerLen > maxHeaderLen {
		return header{}, fmt.Errorf(".npy header of %d bytes is too long", headerLen)
	}
	// Read the dict as it arrives rather than into a buffer of the declared
	// length: a forged length must not cost its size in memory.
	text, err := io.ReadAll(io.LimitReader(r, int64(headerLen)))
	if err != nil {
		return header{}, fmt.Errorf("truncated .npy header (%w)", err)
	}
	if len(text) < int(headerLen) {
		return header{}, fmt.Errorf("truncated .npy header (%w): %d bytes declared, %d present", io.ErrUnexpectedEOF, headerLen, len(text))
	}
	h, err := parseHeader(string(text))
	if err != nil {
		return header{}, fmt.Errorf("bad .npy header: %w", err)
	}
	return h, nil
}

func shortRead(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseDType splits a descriptor such as "<f8" into its kind and item size.
func parseDType(descr string) (kind byte, size int, err error) {
	const supportedList = "(supported: float64, float32, int8-64, uint8-64, bool)"
	supported := map[string]int{"f8": 8, "f4": 4, "i8": 8, "i4": 4, "i2": 2, "i1": 1, "u8": 8, "u4": 4, "u2": 2, "u1": 1, "b1": 1}
	if len(descr) != 3 {
		return 0, 0, fmt.Errorf("unsupported dtype %q %s", descr, supportedList)
	}
	size, ok := supported[descr[1:]]
	if !ok {
		return 0, 0, fmt.Errorf("unsupported dtype %q %s", descr, supportedList)
	}
	switch order := descr[0]; {
	case order == '>':
		return 0, 0, fmt.Errorf("unsupported dtype %q: big-endian data (convert with .astype('<%s'))", descr, descr[1:])
	case order != '<' && !(order == '|' && size == 1):
		return 0, 0, fmt.Errorf("unsupported dtype %q: byte order %q %s", descr, order, supportedList)
	}
	return descr[1], size, nil
}

// elementCount multiplies out the shape, failing if the byte size would
// come near overflowing an int64.
func elementCount(shape []int, itemSize int) (int, bool) {
	const maxBytes = math.MaxInt64 / 2
	n := 1
	for _, s := range shape {
		if s != 0 && n > maxBytes/itemSize/s {
			return 0, false
		}
		n *= s
	}
	return n, true
}

// preallocLimit bounds the buffer readNPY reserves for an entry's data
// before reading it. A stored entry's bytes are in the archive, so its size
// (capped by the archive's) is real; a deflated entry may expand about
// 1032-fold, but reserving that much for a header's claim would let a small
// forged file cost a thousand times its size, so only a few times the
// compressed size is reserved and the buffer grows as data arrives.
func preallocLimit(f *zip.File, archiveSize int64) int64 {
	stored := int64(min(f.CompressedSize64, uint64(max(archiveSize, 0))))
	if f.Method == zip.Store {
		return stored
	}
	return 4*stored + 64<<10
}

// readData reads up to want+1 bytes (one more to detect surplus data),
// reserving at most prealloc bytes up front.
func readData(r io.Reader, want, prealloc int64) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(int(max(min(want+1, prealloc), 0)))
	if _, err := buf.ReadFrom(io.LimitReader(r, want+1)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decode converts n little-endian items of raw into a.Float or a.Int.
func decode(a *Array, raw []byte, kind byte, size, n int) error {
	le := binary.LittleEndian
	if kind == 'f' {
		a.Float = make([]float64, n)
		for i := range a.Float {
			if size == 8 {
				a.Float[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
			} else {
				a.Float[i] = float64(math.Float32frombits(le.Uint32(raw[4*i:])))
			}
		}
		return nil
	}
	a.Int = make([]int64, n)
	for i := range a.Int {
		var v int64
		switch size {
		case 8:
			u := le.Uint64(raw[8*i:])
			if kind == 'u' && u > math.MaxInt64 {
				return fmt.Errorf("value %d at index %d does not fit in int64", u, i)
			}
			v = int64(u)
		case 4:
			v = int64(le.Uint32(raw[4*i:]))
			if kind == 'i' {
				v = int64(int32(v))
			}
		case 2:
			v = int64(le.Uint16(raw[2*i:]))
			if kind == 'i' {
				v = int64(int16(v))
			}
		case 1:
			v = int64(raw[i])
			if kind == 'i' {
				v = int64(int8(v))
			} else if kind == 'b' && v != 0 {
				v = 1
			}
		}
		a.Int[i] = v
	}
	return nil
}

// pathErrorReason drops the path from *os.PathError, which the caller
// already prints first.
func pathErrorReason(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
