package h5ad

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/jkonet-gpu/jkonet-gpu/internal/atomicfile"
)

// AnnData is what Write writes: an AnnData object (anndata ≥ 0.8 on-disk
// layout, "encoding-type" attributes on every element) with a dense X of
// float64, obs columns, obsm matrices and strings in uns.
type AnnData struct {
	// ObsNames is the obs index, one name per cell (nil: "0", "1", …).
	ObsNames []string
	// X holds len(ObsNames) (or the cells of Obs) rows of D columns.
	X []float64
	D int
	// VarNames names the D columns of X (nil: "0", "1", …).
	VarNames []string
	// Obs are the obs columns, in order.
	Obs []Column
	// Obsm are the obsm matrices, one row per cell.
	Obsm []Matrix
	// Uns are strings stored in uns under their names.
	Uns []Text
}

// Column is one obs column: a categorical (Categories and each cell's code
// in Codes; Ordered) or, when Categories is nil, the numbers Values.
type Column struct {
	Name       string
	Categories []string
	Codes      []int
	Ordered    bool
	Values     []float64
}

// Matrix is an obsm matrix: rows × D values, row-major.
type Matrix struct {
	Name string
	X    []float64
	D    int
}

// Text is a string stored in uns.
type Text struct {
	Name, Value string
}

// Write writes a as an .h5ad file at path, atomically (all or nothing).
// The HDF5 is the plainest h5py writes (superblock 0, version 1 object
// headers, symbol-table groups, contiguous datasets, fixed-length UTF-8
// strings), so anndata, h5py and this package's reader open it.
func Write(path string, a *AnnData) error {
	b, err := a.encode()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// rows is the number of cells, checked against every per-cell field.
func (a *AnnData) rows() (int, error) {
	if a.D < 1 || len(a.X)%a.D != 0 || len(a.X) == 0 {
		return 0, fmt.Errorf("X: expected rows of %d columns, got %d values", a.D, len(a.X))
	}
	n := len(a.X) / a.D
	if a.ObsNames != nil && len(a.ObsNames) != n {
		return 0, fmt.Errorf("obs names: expected %d (one per row of X), got %d", n, len(a.ObsNames))
	}
	if a.VarNames != nil && len(a.VarNames) != a.D {
		return 0, fmt.Errorf("var names: expected %d (one per column of X), got %d", a.D, len(a.VarNames))
	}
	for _, c := range a.Obs {
		switch {
		case c.Categories != nil && len(c.Codes) != n:
			return 0, fmt.Errorf("obs column %q: expected %d codes, got %d", c.Name, n, len(c.Codes))
		case c.Categories != nil && len(c.Categories) > math.MaxInt8:
			return 0, fmt.Errorf("obs column %q: %d categories, at most %d are written", c.Name, len(c.Categories), math.MaxInt8)
		case c.Categories == nil && len(c.Values) != n:
			return 0, fmt.Errorf("obs column %q: expected %d values, got %d", c.Name, n, len(c.Values))
		}
		for i, code := range c.Codes {
			if code < 0 || code >= len(c.Categories) {
				return 0, fmt.Errorf("obs column %q: row %d has code %d, outside the %d categories", c.Name, i, code, len(c.Categories))
			}
		}
	}
	for _, m := range a.Obsm {
		if m.D < 1 || len(m.X) != n*m.D {
			return 0, fmt.Errorf("obsm %q: expected %d rows of %d columns, got %d values", m.Name, n, m.D, len(m.X))
		}
	}
	return n, nil
}

// counting names 0…n−1, anndata's default index.
func counting(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprint(i)
	}
	return s
}

// node is an HDF5 object to write: a group (children, sorted by name when
// written) or a dataset.
type node struct {
	name     string
	children []*node // group
	attrs    []attr
	dataset  *data // nil: a group
}

// data is a dataset's type, shape and bytes.
type data struct {
	dtype []byte // datatype message
	dims  []uint64
	bytes []byte
}

// attr is an attribute: name, datatype message, shape and bytes.
type attr struct {
	name  string
	value data
}

func group(name string, encoding, version string, children ...*node) *node {
	return &node{name: name, children: children, attrs: []attr{strAttr("encoding-type", encoding), strAttr("encoding-version", version)}}
}

func array(name string, d data, encoding string) *node {
	return &node{name: name, dataset: &d, attrs: []attr{strAttr("encoding-type", encoding), strAttr("encoding-version", "0.2.0")}}
}

func (a *AnnData) encode() ([]byte, error) {
	n, err := a.rows()
	if err != nil {
		return nil, err
	}
	obsNames, varNames := a.ObsNames, a.VarNames
	if obsNames == nil {
		obsNames = counting(n)
	}
	if varNames == nil {
		varNames = counting(a.D)
	}
	obs := dataframe("obs", obsNames)
	var order []string
	for _, c := range a.Obs {
		if c.Name == "_index" || slices.Contains(order, c.Name) {
			return nil, fmt.Errorf("obs column %q: named twice or the index's name", c.Name)
		}
		order = append(order, c.Name)
		if c.Categories == nil {
			obs.children = append(obs.children, array(c.Name, float64s(c.Values, uint64(n)), "array"))
			continue
		}
		codes := make([]byte, n)
		for i, code := range c.Codes {
			codes[i] = byte(int8(code))
		}
		cat := group(c.Name, "categorical", "0.2.0",
			array("categories", fixedStrings(c.Categories), "string-array"),
			array("codes", data{dtype: int8Type(), dims: []uint64{uint64(n)}, bytes: codes}, "array"))
		cat.attrs = append(cat.attrs, attr{"ordered", boolValue(c.Ordered)})
		obs.children = append(obs.children, cat)
	}
	obs.attrs = append(obs.attrs, attr{"column-order", stringsOrEmpty(order)})
	vars := dataframe("var", varNames)
	vars.attrs = append(vars.attrs, attr{"column-order", stringsOrEmpty(nil)})
	obsm := group("obsm", "dict", "0.1.0")
	for _, m := range a.Obsm {
		obsm.children = append(obsm.children, array(m.Name, float64s(m.X, uint64(n), uint64(m.D)), "array"))
	}
	uns := group("uns", "dict", "0.1.0")
	for _, t := range a.Uns {
		d := fixedStrings([]string{t.Value})
		d.dims = nil // a scalar
		uns.children = append(uns.children, &node{name: t.Name, dataset: &d, attrs: []attr{strAttr("encoding-type", "string"), strAttr("encoding-version", "0.2.0")}})
	}
	root := group("", "anndata", "0.1.0",
		array("X", float64s(a.X, uint64(n), uint64(a.D)), "array"),
		obs, vars, obsm, uns,
		group("layers", "dict", "0.1.0"), group("obsp", "dict", "0.1.0"),
		group("varm", "dict", "0.1.0"), group("varp", "dict", "0.1.0"))
	for _, g := range []*node{root, obs, obsm, uns} {
		seen := map[string]bool{}
		for _, c := range g.children {
			if seen[c.name] {
				return nil, fmt.Errorf("%q is named twice in %s", c.name, cmpOr(g.name, "the root group"))
			}
			seen[c.name] = true
		}
	}
	var w h5writer
	w.buf = make([]byte, superblockSize)
	hdr, btree, heap := w.group(root)
	w.superblock(hdr, btree, heap)
	return w.buf, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// dataframe is an obs or var group holding its index.
func dataframe(name string, index []string) *node {
	g := group(name, "dataframe", "0.2.0", array("_index", fixedStrings(index), "string-array"))
	g.attrs = append(g.attrs, strAttr("_index", "_index"))
	return g
}

// HDF5 encoding. Sizes of offsets and lengths are 8 bytes; every structure
// follows the HDF5 File Format Specification version 3 (superblock 0,
// II.A; symbol table entries, III.C; v1 B-trees, III.A.1; symbol table
// nodes, III.B; local heaps, III.D; object headers v1, IV.A.1.a; messages,
// IV.A.2).

const (
	superblockSize = 96
	undefined      = math.MaxUint64
	leafK          = 4  // group leaf node K: a symbol table node holds 2K entries
	internalK      = 16 // group internal node K: a B-tree node has 2K children
)

type h5writer struct{ buf []byte }

func (w *h5writer) align() {
	for len(w.buf)%8 != 0 {
		w.buf = append(w.buf, 0)
	}
}

func (w *h5writer) u16(v uint16) { w.buf = binary.LittleEndian.AppendUint16(w.buf, v) }
func (w *h5writer) u32(v uint32) { w.buf = binary.LittleEndian.AppendUint32(w.buf, v) }
func (w *h5writer) u64(v uint64) { w.buf = binary.LittleEndian.AppendUint64(w.buf, v) }

// superblock writes superblock version 0 at the start of the file.
func (w *h5writer) superblock(rootHeader, btree, heap uint64) {
	b := w.buf[:0:superblockSize]
	b = append(b, 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n')
	b = append(b, 0, 0, 0, 0, 0, 8, 8, 0)
	b = binary.LittleEndian.AppendUint16(b, leafK)
	b = binary.LittleEndian.AppendUint16(b, internalK)
	b = binary.LittleEndian.AppendUint32(b, 0) // consistency flags
	b = binary.LittleEndian.AppendUint64(b, 0) // base address
	b = binary.LittleEndian.AppendUint64(b, undefined)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(w.buf)))
	b = binary.LittleEndian.AppendUint64(b, undefined)
	b = appendEntry(b, 0, rootHeader, btree, heap)
	if len(b) != superblockSize {
		panic("h5ad: superblock size")
	}
}

// appendEntry appends a symbol table entry; a group's (btree ≠ 0) caches
// its B-tree and heap addresses.
func appendEntry(b []byte, nameOffset, header, btree, heap uint64) []byte {
	b = binary.LittleEndian.AppendUint64(b, nameOffset)
	b = binary.LittleEndian.AppendUint64(b, header)
	if btree == 0 {
		return append(b, make([]byte, 24)...)
	}
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint64(b, btree)
	return binary.LittleEndian.AppendUint64(b, heap)
}

// group writes the children of g, then its local heap, symbol table nodes,
// B-tree and object header; it returns the addresses of the last three.
func (w *h5writer) group(g *node) (header, btree, heap uint64) {
	type entry struct {
		name                string
		header, btree, heap uint64
	}
	children := slices.Clone(g.children)
	slices.SortFunc(children, func(a, b *node) int { return compareStrings(a.name, b.name) })
	entries := make([]entry, len(children))
	for i, c := range children {
		entries[i].name = c.name
		if c.dataset != nil {
			entries[i].header = w.dataset(c)
		} else {
			entries[i].header, entries[i].btree, entries[i].heap = w.group(c)
		}
	}
	// The local heap: "" at offset 0, then each name, padded to 8 bytes.
	var names []byte
	names = append(names, make([]byte, 8)...)
	offsets := make([]uint64, len(entries))
	for i, e := range entries {
		offsets[i] = uint64(len(names))
		names = append(names, e.name...)
		names = append(names, 0)
		for len(names)%8 != 0 {
			names = append(names, 0)
		}
	}
	w.align()
	heap = uint64(len(w.buf))
	w.buf = append(w.buf, 'H', 'E', 'A', 'P', 0, 0, 0, 0)
	w.u64(uint64(len(names)))
	w.u64(1) // no free block (HDF5's H5HL_FREE_NULL)
	w.u64(heap + 32)
	w.buf = append(w.buf, names...)
	// Symbol table nodes of at most 2K entries each.
	var nodes []uint64
	var lastNames []uint64 // heap offset of each node's last name
	for start := 0; start < len(entries); start += 2 * leafK {
		end := min(start+2*leafK, len(entries))
		w.align()
		nodes = append(nodes, uint64(len(w.buf)))
		lastNames = append(lastNames, offsets[end-1])
		w.buf = append(w.buf, 'S', 'N', 'O', 'D', 1, 0)
		w.u16(uint16(end - start))
		for i := start; i < end; i++ {
			w.buf = appendEntry(w.buf, offsets[i], entries[i].header, entries[i].btree, entries[i].heap)
		}
		w.buf = append(w.buf, make([]byte, (2*leafK-(end-start))*40)...)
	}
	if len(nodes) > 2*internalK {
		panic("h5ad: too many members in one group") // encode limits columns far below
	}
	// One leaf B-tree node pointing at the symbol table nodes.
	w.align()
	btree = uint64(len(w.buf))
	w.buf = append(w.buf, 'T', 'R', 'E', 'E', 0, 0)
	w.u16(uint16(len(nodes)))
	w.u64(undefined)
	w.u64(undefined)
	w.u64(0)
	for i, addr := range nodes {
		w.u64(addr)
		w.u64(lastNames[i])
	}
	w.buf = append(w.buf, make([]byte, (2*internalK-len(nodes))*16)...)
	// The object header: a symbol table message and the attributes.
	stab := binary.LittleEndian.AppendUint64(nil, btree)
	stab = binary.LittleEndian.AppendUint64(stab, heap)
	msgs := []outMessage{{0x0011, stab}}
	for _, a := range g.attrs {
		msgs = append(msgs, a.message())
	}
	return w.objectHeader(msgs), btree, heap
}

// compareStrings orders names as HDF5's symbol tables do (strcmp).
func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type outMessage struct {
	kind uint16
	body []byte
}

// objectHeader writes a version 1 object header holding msgs.
func (w *h5writer) objectHeader(msgs []outMessage) uint64 {
	w.align()
	addr := uint64(len(w.buf))
	size := 0
	for _, m := range msgs {
		size += 8 + pad8(len(m.body))
	}
	w.buf = append(w.buf, 1, 0)
	w.u16(uint16(len(msgs)))
	w.u32(1)
	w.u32(uint32(size))
	w.u32(0) // padding to 8 bytes
	for _, m := range msgs {
		w.u16(m.kind)
		w.u16(uint16(pad8(len(m.body))))
		w.buf = append(w.buf, 0, 0, 0, 0)
		w.buf = append(w.buf, m.body...)
		w.buf = append(w.buf, make([]byte, pad8(len(m.body))-len(m.body))...)
	}
	return addr
}

func pad8(n int) int { return (n + 7) / 8 * 8 }

// dataset writes the bytes of a dataset (contiguous) and its object header.
func (w *h5writer) dataset(n *node) uint64 {
	d := n.dataset
	w.align()
	addr := uint64(len(w.buf))
	w.buf = append(w.buf, d.bytes...)
	if len(d.bytes) == 0 {
		addr = undefined
	}
	layout := []byte{3, 1}
	layout = binary.LittleEndian.AppendUint64(layout, addr)
	layout = binary.LittleEndian.AppendUint64(layout, uint64(len(d.bytes)))
	msgs := []outMessage{
		{0x0001, dataspace(d.dims)},
		{0x0003, d.dtype},
		{0x0005, []byte{2, 2, 2, 0}}, // fill value v2: late allocation, never written, none defined
		{0x0008, layout},
	}
	for _, a := range n.attrs {
		msgs = append(msgs, a.message())
	}
	return w.objectHeader(msgs)
}

// dataspace is a version 1 dataspace message (no dimensions: a scalar).
func dataspace(dims []uint64) []byte {
	b := []byte{1, byte(len(dims)), 0, 0, 0, 0, 0, 0}
	for _, d := range dims {
		b = binary.LittleEndian.AppendUint64(b, d)
	}
	return b
}

// message is the attribute message (version 1) of a.
func (a attr) message() outMessage {
	name := append([]byte(a.name), 0)
	space := dataspace(a.value.dims)
	b := []byte{1, 0}
	b = binary.LittleEndian.AppendUint16(b, uint16(len(name)))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(a.value.dtype)))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(space)))
	for _, part := range [][]byte{name, a.value.dtype, space} {
		b = append(b, part...)
		b = append(b, make([]byte, pad8(len(part))-len(part))...)
	}
	return outMessage{0x000C, append(b, a.value.bytes...)}
}

// Datatypes.

func float64Type() []byte {
	b := []byte{0x11, 0x20, 63, 0}
	b = binary.LittleEndian.AppendUint32(b, 8)
	b = append(b, 0, 0, 64, 0, 52, 11, 0, 52)
	return binary.LittleEndian.AppendUint32(b, 1023)
}

func int8Type() []byte {
	b := []byte{0x10, 0x08, 0, 0}
	b = binary.LittleEndian.AppendUint32(b, 1)
	return append(b, 0, 0, 8, 0)
}

// stringType is a fixed-length, null-padded UTF-8 string of size bytes.
func stringType(size int) []byte {
	b := []byte{0x13, 0x11, 0, 0}
	return binary.LittleEndian.AppendUint32(b, uint32(size))
}

func float64s(v []float64, dims ...uint64) data {
	b := make([]byte, 0, 8*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return data{dtype: float64Type(), dims: dims, bytes: b}
}

// fixedStrings stores s as fixed-length strings as long as the longest.
func fixedStrings(s []string) data {
	size := 1
	for _, v := range s {
		size = max(size, len(v))
	}
	b := make([]byte, 0, size*len(s))
	for _, v := range s {
		b = append(b, v...)
		b = append(b, make([]byte, size-len(v))...)
	}
	return data{dtype: stringType(size), dims: []uint64{uint64(len(s))}, bytes: b}
}

func strAttr(name, value string) attr {
	d := fixedStrings([]string{value})
	d.dims = nil
	return attr{name, d}
}

// stringsOrEmpty is a string array attribute; an empty one is an empty
// float64 array (anndata reads either as no columns).
func stringsOrEmpty(s []string) data {
	if len(s) == 0 {
		return data{dtype: float64Type(), dims: []uint64{0}}
	}
	return fixedStrings(s)
}

// boolValue is a boolean as h5py writes it: an enum of int8 with FALSE = 0
// and TRUE = 1.
func boolValue(v bool) data {
	b := []byte{0x18, 2, 0, 0}
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = append(b, int8Type()...)
	for _, name := range []string{"FALSE", "TRUE"} {
		n := append([]byte(name), 0)
		b = append(b, n...)
		b = append(b, make([]byte, pad8(len(n))-len(n))...)
	}
	b = append(b, 0, 1)
	var value byte
	if v {
		value = 1
	}
	return data{dtype: b, bytes: []byte{value}}
}
