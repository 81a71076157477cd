package h5ad

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/jkonet-gpu/jkonet-gpu/internal/membudget"
)

// The HDF5 library lists the groups and parses attribute messages; the dataset
// bytes are read here, from the object header on, because the library
// converts only 4- and 8-byte numbers (categorical codes are int8, booleans
// are 1-byte enums) and allocates whatever a header claims. This reader
// covers what h5py writes for AnnData: object headers v1 and v2, the
// dataspace, fixed-point, float, enum, fixed string and variable-length
// string datatypes, compact, contiguous and chunked layouts (layout message
// v3 with a v1 B-tree; v4 with a single chunk or implicit index), and the
// deflate, shuffle and Fletcher-32 filters. Every size is checked against
// the file before anything is allocated for it. The field layouts follow
// the HDF5 File Format Specification version 3, sections IV.A (object
// headers), IV.A.2 (messages) and III.A.2 (v1 B-trees), III.E (global heap).

// Header message types used here.
const (
	msgDataspace    = 0x0001
	msgDatatype     = 0x0003
	msgFillOld      = 0x0004
	msgFill         = 0x0005
	msgLayout       = 0x0008
	msgFilters      = 0x000B
	msgContinuation = 0x0010
)

// Datatype classes used here.
const (
	classFixed  = 0
	classFloat  = 1
	classString = 3
	classEnum   = 8
	classVLen   = 9
)

// decodedPerStoredByte bounds how far filtered chunks may expand: deflate
// cannot exceed about 1032:1, so a file cannot make the reader allocate much
// more than this many bytes per byte of its own (see spend).
const decodedPerStoredByte = 1100

// unwrittenPerStoredByte bounds the bytes of a dataset that no stored chunk
// covers (they read as the fill value): an honest file preallocates a
// little, a hostile one declares gigabytes it never writes.
const unwrittenPerStoredByte = 16

// maxHeaderBlocks bounds the object header continuation blocks followed.
const maxHeaderBlocks = 1024

// h5reader reads datasets from an open file.
type h5reader struct {
	r          io.ReaderAt
	size       int64 // file size in bytes
	offsetSize int   // bytes of an address
	lengthSize int   // bytes of a length
	heaps      map[uint64]map[uint16][]byte
	heapBytes  uint64 // bytes of the global heap collections read so far
	strs       map[heapRef]string
	decoded    uint64 // bytes of chunked data assembled and decoded so far
	allocated  uint64 // bytes of data read and decoded so far (see alloc)
	// links are the soft and external links of each group (by path, ""
	// for the root), which the HDF5 library does not list (checkGroups).
	links map[string]map[string]link
}

// alloc counts n more bytes that reading this file allocates (dataset
// bytes, the values they decode to, densified matrices) against the memory
// budget (package membudget), before they are allocated: the bounds
// relative to the file's size still let a file of a few MB ask for
// hundreds, which a small machine cannot give.
func (h *h5reader) alloc(n uint64) error {
	if err := membudget.Checku(h.allocated + n); err != nil {
		return err
	}
	h.allocated += n
	return nil
}

// heapRef names one global heap object: its collection and index.
type heapRef struct {
	addr  uint64
	index uint32
}

// decodeLimit is how many bytes of chunked data one file may decode to in
// all (the chunks and the arrays they are assembled into): chunks may share
// stored bytes, so bounding each chunk by its stored size is not enough.
func (h *h5reader) decodeLimit() uint64 { return decodedPerStoredByte*uint64(h.size) + 1<<16 }

// spend counts n more decoded bytes against decodeLimit.
func (h *h5reader) spend(n uint64) error {
	if n > h.decodeLimit()-min(h.decoded, h.decodeLimit()) {
		return fmt.Errorf("the chunks decode to more than %d bytes, more than a %d-byte file can hold", h.decodeLimit(), h.size)
	}
	if err := h.alloc(n); err != nil {
		return fmt.Errorf("decoding chunks of %d bytes: %w", n, err)
	}
	h.decoded += n
	return nil
}

// datatype is the part of a datatype message this reader needs.
type datatype struct {
	class     int
	size      int  // bytes per element
	bigEndian bool // numbers only
	signed    bool // fixed-point only
	vlenStr   bool // variable-length string
}

// dataset is a parsed dataset object header.
type dataset struct {
	dims    []uint64
	dtype   datatype
	layout  []byte // the layout message
	filters []filter
	fill    []byte // the fill value of unwritten elements; nil: zeros
}

// filter is one stage of a chunk's filter pipeline.
type filter struct {
	id uint16 // 1 deflate, 2 shuffle, 3 Fletcher-32
}

// elements is the number of elements, the product of the dimensions.
func (d *dataset) elements() (uint64, error) {
	n := uint64(1)
	for _, s := range d.dims {
		if s != 0 && n > math.MaxInt64/s {
			return 0, fmt.Errorf("shape %v is too large", d.dims)
		}
		n *= s
	}
	return n, nil
}

// leUint reads little-endian bytes (up to 8) as an unsigned integer.
func leUint(b []byte) uint64 {
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// cursor reads the fields of one message, failing once past its end.
type cursor struct {
	b   []byte
	pos int
	err error
}

// take returns the next n bytes, or nil once the message is exhausted.
func (c *cursor) take(n int) []byte {
	if c.err != nil || n < 0 || n > len(c.b)-c.pos {
		c.err = errors.New("message is truncated")
		return nil
	}
	v := c.b[c.pos : c.pos+n]
	c.pos += n
	return v
}

func (c *cursor) uint(n int) uint64 { return leUint(c.take(n)) }

// readAt reads n bytes at addr, checking them against the file size first.
func (h *h5reader) readAt(addr, n uint64) ([]byte, error) {
	if addr >= uint64(h.size) || n > uint64(h.size)-addr {
		return nil, fmt.Errorf("%d bytes at address %d lie beyond the end of the file (%d bytes)", n, addr, h.size)
	}
	buf := make([]byte, n)
	if _, err := h.r.ReadAt(buf, int64(addr)); err != nil {
		return nil, fmt.Errorf("cannot read %d bytes at address %d (%w)", n, addr, err)
	}
	return buf, nil
}

// header reads the dataset object header at addr.
func (h *h5reader) header(addr uint64) (*dataset, error) {
	msgs, err := h.messages(addr)
	if err != nil {
		return nil, err
	}
	d := &dataset{}
	var dataspace, dtype, fillNew []byte
	for _, m := range msgs {
		switch m.kind {
		case msgDataspace:
			dataspace = m.data
		case msgDatatype:
			if m.flags&0x02 != 0 {
				return nil, errors.New("shared (committed) datatypes are not supported")
			}
			dtype = m.data
		case msgLayout:
			d.layout = m.data
		case msgFilters:
			if d.filters, err = parseFilters(m.data); err != nil {
				return nil, err
			}
		case msgFill:
			if d.fill, err = parseFill(m.data); err != nil {
				return nil, err
			}
		case msgFillOld:
			if fillNew == nil { // the new message wins when both are present
				c := cursor{b: m.data}
				oldFill := c.take(int(c.uint(4)))
				if c.err != nil {
					return nil, fmt.Errorf("fill value %w", c.err)
				}
				d.fill = oldFill
			}
		}
		if m.kind == msgFill {
			fillNew = m.data
		}
	}
	if dataspace == nil || dtype == nil || d.layout == nil {
		return nil, errors.New("not a dataset (no dataspace, datatype or layout message)")
	}
	if d.dims, err = h.parseDataspace(dataspace); err != nil {
		return nil, err
	}
	if d.dtype, err = parseDatatype(dtype, 0); err != nil {
		return nil, err
	}
	if allZero(d.fill) {
		d.fill = nil
	} else if d.dtype.vlenStr || len(d.fill) != d.dtype.size {
		return nil, fmt.Errorf("fill value of %d bytes for elements of %d bytes is not supported", len(d.fill), d.dtype.size)
	}
	return d, nil
}

// parseFill reads a fill value message (versions 1 to 3): the value that
// elements never written read as, or nil where it is undefined or the
// default (zeros).
func parseFill(b []byte) ([]byte, error) {
	c := cursor{b: b}
	version := c.uint(1)
	var defined bool
	switch version {
	case 1, 2:
		c.take(2) // space allocation time, fill value write time
		defined = c.uint(1) != 0
		if !defined && version == 2 {
			return nil, nil
		}
	case 3:
		if defined = c.uint(1)&0x20 != 0; !defined {
			return nil, nil
		}
	default:
		return nil, fmt.Errorf("fill value message version %d is not supported", version)
	}
	size := c.uint(4)
	value := c.take(int(min(size, math.MaxInt32)))
	if c.err != nil {
		return nil, fmt.Errorf("fill value %w", c.err)
	}
	if !defined {
		return nil, nil
	}
	return value, nil
}

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for _, v := range b {
		if v != 0 {
			return false
		}
	}
	return true
}

// filled is n bytes of the fill value of d (zeros by default), counted
// against the bound on bytes no stored data covers.
func (h *h5reader) filled(d *dataset, n, covered uint64) ([]byte, error) {
	if unwritten := n - min(n, covered); unwritten > unwrittenPerStoredByte*uint64(h.size)+1<<20 {
		return nil, fmt.Errorf("shape %v declares %d bytes of which %d were never written (they would read as the fill value); more than a %d-byte file may leave unwritten", d.dims, n, unwritten, h.size)
	}
	out := make([]byte, n)
	if d.fill != nil {
		for i := 0; i+len(d.fill) <= len(out); i += len(d.fill) {
			copy(out[i:], d.fill)
		}
	}
	return out, nil
}

// messages reads the messages of the object header at addr, following
// its continuation blocks.
func (h *h5reader) messages(addr uint64) ([]message, error) {
	prefix, err := h.readAt(addr, 16)
	if err != nil {
		return nil, err
	}
	type block struct{ addr, size uint64 }
	var blocks []block
	v2 := string(prefix[:4]) == "OHDR"
	var flags byte
	switch {
	case v2:
		if prefix[4] != 2 {
			return nil, fmt.Errorf("object header version %d is not supported", prefix[4])
		}
		flags = prefix[5]
		pos := uint64(6)
		if flags&0x20 != 0 {
			pos += 16 // access, modification, change and birth times
		}
		if flags&0x10 != 0 {
			pos += 4 // attribute storage phase change values
		}
		sizeBytes := uint64(1) << (flags & 3)
		field, err := h.readAt(addr+pos, sizeBytes)
		if err != nil {
			return nil, err
		}
		// The block holds the messages and then a 4-byte checksum.
		blocks = append(blocks, block{addr + pos + sizeBytes, leUint(field)})
	case prefix[0] == 1:
		blocks = append(blocks, block{addr + 16, uint64(binary.LittleEndian.Uint32(prefix[8:12]))})
	default:
		return nil, fmt.Errorf("no object header at address %d", addr)
	}
	var all []message
	seen := map[uint64]bool{}
	for len(blocks) > 0 {
		b := blocks[0]
		blocks = blocks[1:]
		if seen[b.addr] || len(seen) == maxHeaderBlocks {
			return nil, errors.New("object header continuation blocks loop")
		}
		seen[b.addr] = true
		data, err := h.readAt(b.addr, b.size)
		if err != nil {
			return nil, fmt.Errorf("object header: %w", err)
		}
		if v2 && len(seen) > 1 {
			if len(data) < 8 || string(data[:4]) != "OCHK" {
				return nil, errors.New("object header continuation block lacks its signature")
			}
			data = data[4 : len(data)-4]
		}
		msgs, err := splitMessages(data, v2, flags)
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			if m.kind == msgContinuation {
				c := cursor{b: m.data}
				next := block{c.uint(h.offsetSize), c.uint(h.lengthSize)}
				if c.err != nil {
					return nil, fmt.Errorf("continuation %w", c.err)
				}
				blocks = append(blocks, next)
			}
		}
		all = append(all, msgs...)
	}
	return all, nil
}

type message struct {
	kind  uint16
	flags byte
	data  []byte
}

// splitMessages cuts a header block into its messages: v1 messages have a
// 2-byte type, 2-byte size, flags and 3 reserved bytes; v2 messages a 1-byte
// type, 2-byte size, flags and, when the header tracks attribute creation
// order, a 2-byte index.
func splitMessages(data []byte, v2 bool, headerFlags byte) ([]message, error) {
	var msgs []message
	prefix := 8
	if v2 {
		prefix = 4
		if headerFlags&0x04 != 0 {
			prefix = 6
		}
	}
	for pos := 0; pos+prefix <= len(data); {
		var m message
		var size int
		if v2 {
			m.kind, size, m.flags = uint16(data[pos]), int(binary.LittleEndian.Uint16(data[pos+1:])), data[pos+3]
		} else {
			m.kind, size, m.flags = binary.LittleEndian.Uint16(data[pos:]), int(binary.LittleEndian.Uint16(data[pos+2:])), data[pos+4]
		}
		pos += prefix
		if pos+size > len(data) {
			return nil, errors.New("object header message runs past its block")
		}
		m.data = data[pos : pos+size]
		pos += size
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// parseDataspace reads a dataspace message (versions 1 and 2).
func (h *h5reader) parseDataspace(b []byte) ([]uint64, error) {
	c := cursor{b: b}
	version, rank := c.uint(1), int(c.uint(1))
	c.take(1) // flags (maximum dimensions follow the sizes; not needed)
	switch version {
	case 1:
		c.take(5)
	case 2:
		if kind := c.uint(1); kind == 2 { // null dataspace: no elements
			return []uint64{0}, c.err
		}
	default:
		return nil, fmt.Errorf("dataspace version %d is not supported", version)
	}
	if rank > 32 {
		return nil, fmt.Errorf("dataspace of rank %d (at most 32)", rank)
	}
	dims := make([]uint64, rank)
	for i := range dims {
		dims[i] = c.uint(h.lengthSize)
	}
	if c.err != nil {
		return nil, fmt.Errorf("dataspace %w", c.err)
	}
	return dims, nil
}

// parseDatatype reads a datatype message; an enum is read as its base
// integer type (h5py stores booleans as an int8 enum).
func parseDatatype(b []byte, depth int) (datatype, error) {
	if len(b) < 8 {
		return datatype{}, errors.New("datatype message is truncated")
	}
	bits := uint32(b[1]) | uint32(b[2])<<8 | uint32(b[3])<<16
	t := datatype{class: int(b[0] & 0x0f), size: int(binary.LittleEndian.Uint32(b[4:8])), bigEndian: bits&1 != 0}
	switch t.class {
	case classFixed:
		t.signed = bits&0x08 != 0
		if !slices.Contains([]int{1, 2, 4, 8}, t.size) {
			return t, fmt.Errorf("%d-byte integers are not supported", t.size)
		}
	case classFloat:
		if t.size != 4 && t.size != 8 || bits&0x40 != 0 {
			return t, fmt.Errorf("float type of %d bytes and bit field %#x is not supported (IEEE float32 and float64 are)", t.size, bits)
		}
	case classString:
		if t.size < 1 {
			return t, errors.New("fixed-length string of no bytes")
		}
	case classEnum:
		if depth > 0 {
			return t, errors.New("nested enum datatype")
		}
		base, err := parseDatatype(b[8:], depth+1)
		if err != nil || base.class != classFixed {
			return t, errors.New("enum datatype whose base is not an integer")
		}
		return base, nil
	case classVLen:
		t.vlenStr = bits&0x0f == 1
		if !t.vlenStr {
			return t, errors.New("variable-length sequences are not supported (strings are)")
		}
	default:
		return t, fmt.Errorf("datatype class %d is not supported", t.class)
	}
	return t, nil
}

func parseFilters(b []byte) ([]filter, error) {
	c := cursor{b: b}
	version, n := c.uint(1), int(c.uint(1))
	if version == 1 {
		c.take(6)
	} else if version != 2 {
		return nil, fmt.Errorf("filter pipeline version %d is not supported", version)
	}
	var out []filter
	for range n {
		f := filter{id: uint16(c.uint(2))}
		nameLen := 0
		if version == 1 || f.id >= 256 {
			nameLen = int(c.uint(2))
		}
		c.take(2) // flags: whether the filter is optional; the chunk's mask says if it ran
		values := int(c.uint(2))
		if version == 1 {
			nameLen = (nameLen + 7) &^ 7
			values += values & 1 // padded to an even count
		}
		c.take(nameLen)
		c.take(4 * values)
		if c.err != nil {
			return nil, fmt.Errorf("filter pipeline %w", c.err)
		}
		switch f.id {
		case 1, 2, 3: // deflate, shuffle, Fletcher-32
		default:
			return nil, fmt.Errorf("HDF5 filter %d is not supported (gzip/deflate, shuffle and fletcher32 are); rewrite the file without compression or with gzip", f.id)
		}
		out = append(out, f)
	}
	return out, nil
}

// raw returns the dataset's bytes in row-major order: elements × size.
func (h *h5reader) raw(d *dataset) ([]byte, error) {
	n, err := d.elements()
	if err != nil {
		return nil, err
	}
	size := uint64(d.dtype.size)
	if d.dtype.vlenStr {
		size = uint64(4 + h.offsetSize + 4) // length, heap collection address, object index
	}
	if n > math.MaxInt64/size {
		return nil, fmt.Errorf("shape %v is too large", d.dims)
	}
	want := n * size
	c := cursor{b: d.layout}
	version, class := c.uint(1), c.uint(1)
	if version != 3 && version != 4 {
		return nil, fmt.Errorf("data layout version %d is not supported", version)
	}
	switch class {
	case 0: // compact: the data is in the message
		stored := c.take(int(c.uint(2)))
		if c.err != nil || uint64(len(stored)) < want {
			return nil, fmt.Errorf("compact data holds %d bytes, the shape needs %d", len(stored), want)
		}
		return stored[:want], nil
	case 1: // contiguous
		addr, stored := c.uint(h.offsetSize), c.uint(h.lengthSize)
		if c.err != nil {
			return nil, fmt.Errorf("layout %w", c.err)
		}
		if want == 0 {
			return nil, nil
		}
		if addr == undefinedAddress(h.offsetSize) { // never written: the fill value
			if err := h.alloc(want); err != nil {
				return nil, fmt.Errorf("shape %v of %d bytes: %w", d.dims, want, err)
			}
			return h.filled(d, want, 0)
		}
		if stored < want {
			return nil, fmt.Errorf("contiguous data holds %d bytes, the shape needs %d", stored, want)
		}
		if err := h.alloc(want); err != nil {
			return nil, fmt.Errorf("shape %v of %d bytes: %w", d.dims, want, err)
		}
		return h.readAt(addr, want)
	case 2:
		return h.chunked(d, &c, version, want, size)
	}
	return nil, fmt.Errorf("data layout class %d is not supported", class)
}

// chunk is one stored chunk: its element offset in each dimension, its
// address and stored size, and which filters were skipped for it.
type chunk struct {
	offset []uint64
	addr   uint64
	size   uint64
	mask   uint32
}

// chunked reads a chunked dataset of want bytes with elements of elemSize.
func (h *h5reader) chunked(d *dataset, c *cursor, version, want, elemSize uint64) ([]byte, error) {
	rank := len(d.dims)
	ndims := int(c.uint(1)) // v3: the rank plus one for the element size
	var flags, encLen uint64 = 0, 4
	if version == 4 {
		flags, ndims, encLen = uint64(ndims), int(c.uint(1)), c.uint(1)
	}
	var addr uint64
	if version == 3 {
		addr = c.uint(h.offsetSize)
	}
	chunkDims := make([]uint64, 0, rank+1)
	for range min(ndims, 33) {
		chunkDims = append(chunkDims, c.uint(int(encLen)))
	}
	if c.err != nil || ndims != rank+1 || encLen < 1 || encLen > 8 {
		return nil, errors.New("chunked layout does not match the dataspace")
	}
	chunkDims = chunkDims[:rank]
	cells, ok := gridCells(d.dims, chunkDims)
	chunkSize := chunkBytes(chunkDims, elemSize)
	// The padded grid (whole chunks) is what the chunks decode to in all.
	limit := h.decodeLimit()
	if !ok || chunkSize > limit || cells > limit/chunkSize {
		return nil, fmt.Errorf("shape %v in chunks of %v is more than a %d-byte file can hold", d.dims, chunkDims, h.size)
	}
	if want == 0 {
		return nil, nil
	}
	var chunks []chunk
	var err error
	switch {
	case version == 3:
		if addr == undefinedAddress(h.offsetSize) {
			break // no chunk was ever written
		}
		if chunks, err = h.btreeChunks(addr, ndims); err != nil {
			return nil, err
		}
	default:
		switch index := c.uint(1); index {
		case 1: // single chunk
			one := chunk{offset: make([]uint64, rank), size: chunkSize}
			if flags&0x02 != 0 {
				one.size, one.mask = c.uint(h.lengthSize), uint32(c.uint(4))
			}
			one.addr = c.uint(h.offsetSize)
			chunks = []chunk{one}
		case 2: // implicit: unfiltered chunks stored one after another
			addr := c.uint(h.offsetSize)
			if len(d.filters) > 0 || cells > uint64(h.size)/chunkSize {
				return nil, errors.New("implicit chunk index does not fit the file")
			}
			chunks = implicitChunks(addr, d.dims, chunkDims, chunkSize)
		default:
			return nil, fmt.Errorf("chunk index type %d (files written with libver='latest') is not supported", index)
		}
		if c.err != nil {
			return nil, fmt.Errorf("layout %w", c.err)
		}
	}
	if uint64(len(chunks)) > cells {
		return nil, fmt.Errorf("%d chunks stored for a grid of %d", len(chunks), cells)
	}
	if err := h.spend(want); err != nil {
		return nil, err
	}
	// Chunks that were never written hold the fill value, as h5py reads them.
	out, err := h.filled(d, want, uint64(len(chunks))*chunkSize)
	if err != nil {
		return nil, err
	}
	placed := map[string]bool{}
	for _, ch := range chunks {
		key := fmt.Sprint(ch.offset)
		if placed[key] {
			return nil, fmt.Errorf("chunk at offset %v is stored twice", ch.offset)
		}
		placed[key] = true
		if err := h.spend(chunkSize); err != nil {
			return nil, err
		}
		data, err := h.chunkData(d, ch, chunkSize)
		if err != nil {
			return nil, err
		}
		if err := place(out, data, ch.offset, chunkDims, d.dims, elemSize); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// gridCells is the number of chunks that cover dims; false if a chunk has
// zero extent or the count overflows.
func gridCells(dims, chunkDims []uint64) (uint64, bool) {
	cells := uint64(1)
	for i, n := range dims {
		if chunkDims[i] == 0 {
			return 0, false
		}
		g := n/chunkDims[i] + min(n%chunkDims[i], 1)
		if g != 0 && cells > math.MaxInt64/g {
			return 0, false
		}
		cells *= g
	}
	return cells, true
}

func undefinedAddress(size int) uint64 { return math.MaxUint64 >> (64 - 8*size) }

// chunkBytes is the decoded size of one chunk, saturating at MaxInt64.
func chunkBytes(chunkDims []uint64, elemSize uint64) uint64 {
	n := elemSize
	for _, c := range chunkDims {
		if c != 0 && n > math.MaxInt64/c {
			return math.MaxInt64
		}
		n *= c
	}
	return n
}

// implicitChunks lists the chunks of an implicit index: every chunk of the
// grid, in row-major order, each size bytes long from addr on.
func implicitChunks(addr uint64, dims, chunkDims []uint64, size uint64) []chunk {
	var chunks []chunk
	index := make([]uint64, len(dims)) // chunk coordinates, last fastest
	for k := uint64(0); ; k++ {
		off := make([]uint64, len(dims))
		for i := range dims {
			off[i] = index[i] * chunkDims[i]
		}
		chunks = append(chunks, chunk{offset: off, addr: addr + k*size, size: size})
		i := len(index) - 1
		for ; i >= 0; i-- {
			if index[i]++; index[i]*chunkDims[i] < dims[i] {
				break
			}
			index[i] = 0
		}
		if i < 0 {
			return chunks
		}
	}
}

// btreeChunks lists the chunks indexed by the version 1 B-tree (node type
// 1) at addr. Each key holds the chunk's stored size, filter mask and
// element offsets (ndims of them, the last for the element size).
func (h *h5reader) btreeChunks(addr uint64, ndims int) ([]chunk, error) {
	keySize := 8 + 8*ndims
	var chunks []chunk
	visited := map[uint64]bool{}
	var walk func(addr uint64, depth int) error
	walk = func(addr uint64, depth int) error {
		if visited[addr] || depth > 64 {
			return errors.New("chunk B-tree loops")
		}
		visited[addr] = true
		head, err := h.readAt(addr, uint64(8+2*h.offsetSize))
		if err != nil {
			return fmt.Errorf("chunk B-tree: %w", err)
		}
		if string(head[:4]) != "TREE" || head[4] != 1 {
			return fmt.Errorf("no chunk B-tree node at address %d", addr)
		}
		level, entries := head[5], uint64(binary.LittleEndian.Uint16(head[6:8]))
		body, err := h.readAt(addr+uint64(len(head)), entries*uint64(keySize+h.offsetSize)+uint64(keySize))
		if err != nil {
			return fmt.Errorf("chunk B-tree: %w", err)
		}
		for i := range entries {
			key := body[i*uint64(keySize+h.offsetSize):]
			child := leUint(key[keySize : keySize+h.offsetSize])
			if level > 0 {
				if err := walk(child, depth+1); err != nil {
					return err
				}
				continue
			}
			ch := chunk{addr: child, size: uint64(binary.LittleEndian.Uint32(key)), mask: binary.LittleEndian.Uint32(key[4:])}
			for j := range ndims - 1 {
				ch.offset = append(ch.offset, binary.LittleEndian.Uint64(key[8+8*j:]))
			}
			chunks = append(chunks, ch)
		}
		return nil
	}
	return chunks, walk(addr, 0)
}

// chunkData reads one chunk and undoes its filters, giving exactly size
// bytes.
func (h *h5reader) chunkData(d *dataset, ch chunk, size uint64) ([]byte, error) {
	filtered := false
	for i := range d.filters {
		filtered = filtered || ch.mask&(1<<i) == 0
	}
	if !filtered && ch.size != size {
		return nil, fmt.Errorf("chunk at address %d holds %d bytes, expected %d", ch.addr, ch.size, size)
	}
	if size > uint64(decodedPerStoredByte)*ch.size+1<<10 {
		return nil, fmt.Errorf("chunk at address %d of %d bytes cannot decode to %d", ch.addr, ch.size, size)
	}
	if err := h.alloc(ch.size); err != nil {
		return nil, fmt.Errorf("chunk at address %d of %d bytes: %w", ch.addr, ch.size, err)
	}
	data, err := h.readAt(ch.addr, ch.size)
	if err != nil {
		return nil, fmt.Errorf("chunk: %w", err)
	}
	for i := len(d.filters) - 1; i >= 0; i-- {
		if ch.mask&(1<<i) != 0 {
			continue // the writer skipped this optional filter for this chunk
		}
		switch d.filters[i].id {
		case 1:
			zr, err := zlib.NewReader(bytes.NewReader(data))
			if err != nil {
				return nil, fmt.Errorf("chunk at address %d: deflate: %w", ch.addr, err)
			}
			var buf bytes.Buffer
			if _, err := buf.ReadFrom(io.LimitReader(zr, int64(size)+1)); err != nil {
				return nil, fmt.Errorf("chunk at address %d: deflate: %w", ch.addr, err)
			}
			data = buf.Bytes()
		case 2:
			data = unshuffle(data, d.dtype.size)
		case 3:
			if len(data) < 4 {
				return nil, fmt.Errorf("chunk at address %d is shorter than its checksum", ch.addr)
			}
			data = data[:len(data)-4]
		}
	}
	if uint64(len(data)) != size {
		return nil, fmt.Errorf("chunk at address %d decodes to %d bytes, expected %d", ch.addr, len(data), size)
	}
	return data, nil
}

// unshuffle undoes the shuffle filter, which stores byte j of every element
// together: in[j·n + i] = out[i·size + j] for n whole elements; trailing
// bytes are stored as they are.
func unshuffle(in []byte, size int) []byte {
	n := len(in) / size
	if size <= 1 || n <= 1 {
		return in
	}
	out := make([]byte, len(in))
	for j := range size {
		for i := range n {
			out[i*size+j] = in[j*n+i]
		}
	}
	copy(out[n*size:], in[n*size:])
	return out
}

// place copies the part of a chunk (full chunkDims, at element offset off)
// that lies inside the dataset into out, row-major, one run along the last
// dimension at a time.
func place(out, data []byte, off, chunkDims, dims []uint64, elemSize uint64) error {
	rank := len(dims)
	if len(off) != rank {
		return errors.New("chunk key does not match the dataspace")
	}
	if rank == 0 {
		copy(out, data)
		return nil
	}
	for i := range dims {
		if off[i]%chunkDims[i] != 0 || off[i] >= dims[i] {
			return fmt.Errorf("chunk offset %v is not on the chunk grid of shape %v", off, dims)
		}
	}
	// extent of the chunk inside the dataset, per dimension
	extent := make([]uint64, rank)
	for i := range dims {
		extent[i] = min(chunkDims[i], dims[i]-off[i])
	}
	run := extent[rank-1] * elemSize
	index := make([]uint64, rank-1) // position within the chunk, last dimension excluded
	for {
		src, dst := uint64(0), uint64(0)
		for i := range rank - 1 {
			src = src*chunkDims[i] + index[i]
			dst = dst*dims[i] + off[i] + index[i]
		}
		src = src * chunkDims[rank-1] * elemSize
		dst = (dst*dims[rank-1] + off[rank-1]) * elemSize
		copy(out[dst:dst+run], data[src:src+run])
		i := rank - 2
		for ; i >= 0; i-- {
			if index[i]++; index[i] < extent[i] {
				break
			}
			index[i] = 0
		}
		if i < 0 {
			return nil
		}
	}
}

// floats decodes a numeric dataset into float64 values.
func (h *h5reader) floats(d *dataset) ([]float64, error) {
	t := d.dtype
	if t.class != classFloat && t.class != classFixed {
		return nil, errors.New("holds no numbers")
	}
	raw, err := h.raw(d)
	if err != nil {
		return nil, err
	}
	if err := h.alloc(8 * uint64(len(raw)/t.size)); err != nil {
		return nil, fmt.Errorf("shape %v as float64: %w", d.dims, err)
	}
	order := byteOrder(t.bigEndian)
	out := make([]float64, len(raw)/t.size)
	switch t.class {
	case classFloat:
		for i := range out {
			if t.size == 8 {
				out[i] = math.Float64frombits(order.Uint64(raw[8*i:]))
			} else {
				out[i] = float64(math.Float32frombits(order.Uint32(raw[4*i:])))
			}
		}
	case classFixed:
		for i := range out {
			if t.signed {
				v := signedAt(raw, i, t.size, order)
				if out[i] = float64(v); v > 1<<53 || v < -(1<<53) {
					if out[i] >= math.MaxInt64 || int64(out[i]) != v {
						return nil, fmt.Errorf("integer %d at index %d is beyond 2^53, where float64 cannot tell integers apart (it reads as %.17g)", v, i, out[i])
					}
				}
			} else {
				u := unsignedAt(raw, i, t.size, order)
				if out[i] = float64(u); u > 1<<53 && (out[i] >= math.MaxUint64 || uint64(out[i]) != u) {
					return nil, fmt.Errorf("integer %d at index %d is beyond 2^53, where float64 cannot tell integers apart (it reads as %.17g)", u, i, out[i])
				}
			}
		}
	}
	return out, nil
}

// ints decodes an integer dataset.
func (h *h5reader) ints(d *dataset) ([]int64, error) {
	t := d.dtype
	if t.class != classFixed {
		return nil, errors.New("holds no integers")
	}
	raw, err := h.raw(d)
	if err != nil {
		return nil, err
	}
	if err := h.alloc(8 * uint64(len(raw)/t.size)); err != nil {
		return nil, fmt.Errorf("shape %v as int64: %w", d.dims, err)
	}
	return decodeInts(t, raw)
}

// decodeInts decodes integers of type t.
func decodeInts(t datatype, raw []byte) ([]int64, error) {
	order := byteOrder(t.bigEndian)
	out := make([]int64, len(raw)/t.size)
	for i := range out {
		if t.signed {
			out[i] = signedAt(raw, i, t.size, order)
			continue
		}
		u := unsignedAt(raw, i, t.size, order)
		if u > math.MaxInt64 {
			return nil, fmt.Errorf("value %d does not fit in int64", u)
		}
		out[i] = int64(u)
	}
	return out, nil
}

func byteOrder(big bool) binary.ByteOrder {
	if big {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

func unsignedAt(raw []byte, i, size int, order binary.ByteOrder) uint64 {
	switch size {
	case 1:
		return uint64(raw[i])
	case 2:
		return uint64(order.Uint16(raw[2*i:]))
	case 4:
		return uint64(order.Uint32(raw[4*i:]))
	}
	return order.Uint64(raw[8*i:])
}

func signedAt(raw []byte, i, size int, order binary.ByteOrder) int64 {
	u := unsignedAt(raw, i, size, order)
	shift := 64 - 8*size
	return int64(u<<shift) >> shift // sign-extend
}

// strings decodes a fixed-length or variable-length string dataset.
func (h *h5reader) strings(d *dataset) ([]string, error) {
	raw, err := h.raw(d)
	if err != nil {
		return nil, err
	}
	if err := h.alloc(16 * uint64(len(raw)/max(d.dtype.size, 1))); err != nil {
		return nil, fmt.Errorf("shape %v as strings: %w", d.dims, err)
	}
	return h.decodeStrings(d.dtype, raw)
}

// decodeStrings decodes fixed-length strings, or variable-length ones
// stored as references into global heap collections.
func (h *h5reader) decodeStrings(t datatype, raw []byte) ([]string, error) {
	if t.class != classString && !t.vlenStr {
		return nil, errors.New("holds no strings")
	}
	if t.class == classString {
		out := make([]string, len(raw)/t.size)
		for i := range out {
			s := raw[i*t.size : (i+1)*t.size]
			out[i] = string(bytes.TrimRight(s, "\x00 "))
		}
		return out, nil
	}
	ref := 4 + h.offsetSize + 4
	out := make([]string, len(raw)/ref)
	for i := range out {
		e := raw[i*ref:]
		length := uint64(binary.LittleEndian.Uint32(e))
		addr := leUint(e[4 : 4+h.offsetSize])
		index := binary.LittleEndian.Uint32(e[4+h.offsetSize:])
		if length == 0 {
			continue
		}
		obj, err := h.heapObject(addr, index)
		if err != nil {
			return nil, fmt.Errorf("string %d: %w", i, err)
		}
		if length > uint64(len(obj)) {
			return nil, fmt.Errorf("string %d: %d bytes claimed, its heap object holds %d", i, length, len(obj))
		}
		// The same object named again is the same string (not a new copy),
		// so many references to one large object cost nothing more.
		key := heapRef{addr, index}
		str, ok := h.strs[key]
		if !ok || len(str) != int(length) {
			str = string(obj[:length])
			if h.strs == nil {
				h.strs = map[heapRef]string{}
			}
			h.strs[key] = str
		}
		out[i] = str
	}
	return out, nil
}

// heapObject returns object index of the global heap collection at addr:
// "GCOL", version, 3 reserved bytes, the collection size, then objects of
// index (2 bytes), reference count (2), 4 reserved, size, data padded to 8.
func (h *h5reader) heapObject(addr uint64, index uint32) ([]byte, error) {
	objects, ok := h.heaps[addr]
	if !ok {
		head, err := h.readAt(addr, uint64(8+h.lengthSize))
		if err != nil {
			return nil, fmt.Errorf("global heap: %w", err)
		}
		if string(head[:4]) != "GCOL" {
			return nil, fmt.Errorf("no global heap at address %d", addr)
		}
		total := leUint(head[8:])
		if total < uint64(len(head)) {
			return nil, fmt.Errorf("global heap at address %d has size %d", addr, total)
		}
		// Collections do not overlap, so together they fit in the file;
		// each read alone is checked by readAt, their sum here.
		if total > uint64(h.size) || h.heapBytes+total > uint64(h.size) {
			return nil, fmt.Errorf("global heap collections of more than %d bytes in all, more than the file holds", h.size)
		}
		// Within the file is not within the machine: a collection of a
		// large file is counted against the memory budget before it is
		// read, as every dataset is.
		if err := h.alloc(total); err != nil {
			return nil, fmt.Errorf("global heap collection at address %d of %d bytes: %w", addr, total, err)
		}
		h.heapBytes += total
		data, err := h.readAt(addr, total)
		if err != nil {
			return nil, fmt.Errorf("global heap: %w", err)
		}
		objects = map[uint16][]byte{}
		c := cursor{b: data, pos: len(head)}
		for c.pos+8+h.lengthSize <= len(data) {
			id := uint16(c.uint(2))
			c.take(6)
			size := c.uint(h.lengthSize)
			if id == 0 { // free space: the rest of the collection
				break
			}
			if size > uint64(len(data)) {
				return nil, fmt.Errorf("global heap object %d claims %d bytes", id, size)
			}
			objects[id] = c.take(int(size))
			c.take(int((8 - size%8) % 8))
			if c.err != nil {
				return nil, fmt.Errorf("global heap object %d %w", id, c.err)
			}
		}
		h.heaps[addr] = objects
	}
	obj, ok := objects[uint16(index)]
	if !ok || index > math.MaxUint16 {
		return nil, fmt.Errorf("global heap at address %d has no object %d", addr, index)
	}
	return obj, nil
}
