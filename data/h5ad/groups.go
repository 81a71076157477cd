package h5ad

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// The HDF5 library opens a file by loading every group it can reach, and
// trusts the file while doing so: it allocates each group's local heap and
// each fractal heap at the size the file claims (a corrupt size crashes the
// process with an out-of-memory error that cannot be recovered), and it
// follows hard links without remembering where it has been (a cycle
// overflows the stack; a chain of shared groups costs exponential time).
// checkGroups walks the same structure first, with bounds, and refuses what
// the library would choke on:
//
//   - a local heap (symbol-table groups, HDF5 File Format Specification
//     III.D) that does not lie inside the file;
//   - dense link or attribute storage (fractal heaps: groups of more than 8
//     members or objects of more than 8 attributes in files written with
//     track_order or libver='latest'), which the library reads unchecked
//     (and, for links, not at all);
//   - hard links that form a cycle, or unfold into more than maxObjects
//     objects.

// Header message types of groups.
const (
	msgLinkInfo      = 0x0002
	msgLink          = 0x0006
	msgAttributeInfo = 0x000F
	msgSymbolTable   = 0x0011
)

// maxObjects bounds the objects and nodes a walk visits: AnnData files hold
// tens to hundreds.
const maxObjects = 1 << 16

type groupWalk struct {
	*h5reader
	unfolded map[uint64]int  // objects the library loads below each object header
	open     map[uint64]bool // object headers on the current path
	btrees   map[uint64]bool // symbol-table B-trees (and their nodes) walked
	nodes    int
}

// checkGroups walks the groups reachable from the root.
func (h *h5reader) checkGroups() error {
	sb, err := h.readAt(0, 24)
	if err != nil {
		return err
	}
	w := &groupWalk{h, map[uint64]int{}, map[uint64]bool{}, map[uint64]bool{}, 0}
	o := uint64(h.offsetSize)
	if version := sb[8]; version >= 2 {
		// signature, version, sizes, flags, then base, extension, end of
		// file and root object header addresses
		root, err := h.readAt(12+3*o, o)
		if err != nil {
			return fmt.Errorf("superblock: %w", err)
		}
		_, err = w.object(leUint(root), 0, "")
		return err
	}
	// The root's symbol table entry follows 4 addresses (base, free space,
	// end of file, driver information) after the 24 (superblock 0) or 28
	// (superblock 1) bytes of fixed fields.
	start := uint64(24 + 4*sb[8])
	entry, err := h.readAt(start+4*o, 2*o+24)
	if err != nil {
		return fmt.Errorf("superblock: %w", err)
	}
	_, err = w.entry(entry, 0, "", heapSegment{})
	return err
}

// entry checks the object of a symbol table entry (link name offset,
// object header address, cache type, reserved, 16 scratch bytes holding a
// group's B-tree and heap addresses when the cache type is 1) and returns
// how many objects the library loads for it.
func (w *groupWalk) entry(e []byte, depth int, parent string, heap heapSegment) (int, error) {
	o := w.offsetSize
	n := 0
	path := parent
	if heap.size > 0 { // the root's entry has no name
		path = parent + "/" + w.heapString(heap, leUint(e[:o]))
	}
	if binary.LittleEndian.Uint32(e[2*o:]) == 2 {
		// A soft link (cache type 2): its value, a path, is in the local
		// heap at the offset the scratch pad holds; it has no object
		// header (the address is undefined), and the library does not list
		// it. The reader follows it by name (softChild).
		w.addLink(parent, path[len(parent)+1:], link{soft: w.heapString(heap, uint64(binary.LittleEndian.Uint32(e[2*o+8:])))})
		return 0, nil
	}
	if binary.LittleEndian.Uint32(e[2*o:]) == 1 {
		scratch := e[2*o+8:]
		var err error
		if n, err = w.symbolTable(leUint(scratch[:o]), leUint(scratch[o:2*o]), depth, path); err != nil {
			return 0, err
		}
	}
	m, err := w.object(leUint(e[o:2*o]), depth, path)
	return n + m, err
}

// heapSegment is the data segment of a group's local heap, where its
// members' names and soft links' paths are.
type heapSegment struct{ addr, size uint64 }

// heapString reads the NUL-terminated string at offset off of a local
// heap (at most 1024 bytes; "" where it cannot be read).
func (w *groupWalk) heapString(h heapSegment, off uint64) string {
	if off >= h.size {
		return ""
	}
	b, err := w.readAt(h.addr+off, min(h.size-off, 1024))
	if err != nil {
		return ""
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// link is a soft link (a path in the file) or an external link (a path in
// another file), which the HDF5 library does not list among a group's
// members.
type link struct {
	soft             string
	extFile, extPath string
}

// addLink records a link of the group at path parent ("" for the root).
func (w *groupWalk) addLink(parent, name string, l link) {
	if w.links == nil {
		w.links = map[string]map[string]link{}
	}
	if w.links[parent] == nil {
		w.links[parent] = map[string]link{}
	}
	if len(w.links[parent]) < maxObjects {
		w.links[parent][name] = l
	}
}

// object checks the object header at addr and what its messages lead to.
func (w *groupWalk) object(addr uint64, depth int, path string) (int, error) {
	if n, done := w.unfolded[addr]; done {
		return n, nil
	}
	if w.open[addr] {
		return 0, fmt.Errorf("hard links form a cycle through %s (the object at address %d)", orRoot(path), addr)
	}
	if depth > 64 {
		return 0, errors.New("groups nest more than 64 deep")
	}
	msgs, err := w.messages(addr)
	if err != nil {
		// Refused here, not left to the library: it reads some headers that
		// this parser finds malformed and goes on to load their heaps.
		return 0, fmt.Errorf("%s (object at address %d): %w", orRoot(path), addr, err)
	}
	w.open[addr] = true
	defer delete(w.open, addr)
	o := w.offsetSize
	n := 1
	for _, m := range msgs {
		c := cursor{b: m.data}
		var children int
		switch m.kind {
		case msgSymbolTable:
			btree, heap := c.uint(o), c.uint(o)
			if c.err == nil {
				children, err = w.symbolTable(btree, heap, depth, path)
			}
		case msgLink:
			name, target, l, kind := parseLink(m.data, o)
			switch kind {
			case linkHard:
				children, err = w.object(target, depth+1, path+"/"+name)
			case linkSoft, linkExternal:
				w.addLink(path, name, l)
			}
		case msgLinkInfo, msgAttributeInfo:
			version, flags := c.uint(1), c.uint(1)
			if flags&1 != 0 { // maximum creation index tracked
				c.take(map[uint16]int{msgLinkInfo: 8, msgAttributeInfo: 2}[m.kind])
			}
			heap := c.uint(o)
			if c.err == nil && version == 0 && heap != undefinedAddress(o) {
				what := map[uint16]string{msgLinkInfo: "links", msgAttributeInfo: "attributes"}[m.kind]
				err = fmt.Errorf("%s (object at address %d) keeps its %s in dense storage (a fractal heap), which is not supported; rewrite the file with anndata's write_h5ad", orRoot(path), addr, what)
			}
		}
		if err != nil {
			return 0, err
		}
		n += children
		if n > maxObjects {
			return 0, fmt.Errorf("the groups unfold into more than %d objects", maxObjects)
		}
	}
	w.unfolded[addr] = n
	return n, nil
}

// Link types of a link message.
const (
	linkHard     = 0
	linkSoft     = 1
	linkExternal = 64
	linkNone     = -1
)

// parseLink reads a link message: version 1, flags, then (as the flags
// say) the link type, creation order, name character set, name length of
// 1 to 8 bytes, the name, and the link's value: a hard link's target
// address, a soft link's path (2-byte length), an external link's file
// and path (2-byte length, a version-and-flags byte, two NUL-terminated
// strings). kind is linkNone where the message cannot be read.
func parseLink(b []byte, offsetSize int) (name string, addr uint64, l link, kind int) {
	c := cursor{b: b}
	if c.uint(1) != 1 {
		return "", 0, l, linkNone
	}
	flags := c.uint(1)
	t := uint64(linkHard)
	if flags&0x08 != 0 {
		t = c.uint(1)
	}
	if flags&0x04 != 0 {
		c.take(8)
	}
	if flags&0x10 != 0 {
		c.take(1)
	}
	name = string(c.take(int(c.uint(1 << (flags & 3)))))
	switch t {
	case linkHard:
		addr = c.uint(offsetSize)
	case linkSoft:
		l.soft = string(c.take(int(c.uint(2))))
	case linkExternal:
		v := c.take(int(c.uint(2)))
		if len(v) > 0 {
			file, path, _ := strings.Cut(string(v[1:]), "\x00")
			l.extFile, l.extPath = file, strings.TrimRight(path, "\x00")
		}
	default:
		return name, 0, l, linkNone
	}
	if c.err != nil {
		return "", 0, l, linkNone
	}
	return name, addr, l, int(t)
}

// symbolTable checks a group's local heap and the entries of its B-tree.
// The library walks each B-tree once, so a B-tree seen before adds nothing.
func (w *groupWalk) symbolTable(btree, heap uint64, depth int, path string) (int, error) {
	if w.btrees[btree] {
		return 0, nil
	}
	l, o := uint64(w.lengthSize), uint64(w.offsetSize)
	head, err := w.readAt(heap, 8+2*l+o)
	if err != nil {
		return 0, fmt.Errorf("local heap: %w", err)
	}
	if string(head[:4]) != "HEAP" {
		return 0, fmt.Errorf("no local heap at address %d", heap)
	}
	size, data := leUint(head[8:8+l]), leUint(head[8+2*l:])
	if data >= uint64(w.size) || size > uint64(w.size)-data {
		return 0, fmt.Errorf("local heap at address %d claims %d bytes at address %d, beyond the end of the file (%d bytes)", heap, size, data, w.size)
	}
	return w.node(btree, depth, path, heapSegment{data, size})
}

// node checks the group B-tree node (type 0) at addr, whose children are
// B-tree nodes (level > 0) or symbol table nodes; a symbol table node in
// its place is read as one.
func (w *groupWalk) node(addr uint64, depth int, path string, heap heapSegment) (int, error) {
	if w.btrees[addr] {
		return 0, nil
	}
	if w.nodes++; w.nodes > maxObjects {
		return 0, fmt.Errorf("more than %d group nodes", maxObjects)
	}
	w.btrees[addr] = true
	o, l := uint64(w.offsetSize), uint64(w.lengthSize)
	head, err := w.readAt(addr, 8+2*o)
	if err != nil {
		return 0, fmt.Errorf("group B-tree: %w", err)
	}
	count := uint64(binary.LittleEndian.Uint16(head[6:8]))
	if string(head[:4]) == "SNOD" {
		size := 2*o + 24
		body, err := w.readAt(addr+8, count*size)
		if err != nil {
			return 0, fmt.Errorf("symbol table node: %w", err)
		}
		n := 0
		for i := range count {
			m, err := w.entry(body[i*size:(i+1)*size], depth+1, path, heap)
			if err != nil {
				return 0, err
			}
			n += m
		}
		return n, nil
	}
	if string(head[:4]) != "TREE" || head[4] != 0 {
		return 0, fmt.Errorf("no group B-tree node at address %d", addr)
	}
	body, err := w.readAt(addr+8+2*o, count*(l+o)+l)
	if err != nil {
		return 0, fmt.Errorf("group B-tree: %w", err)
	}
	n := 0
	for i := range count {
		// children of level 0 are symbol table nodes, read above
		m, err := w.node(leUint(body[i*(l+o)+l:(i+1)*(l+o)]), depth, path, heap)
		if err != nil {
			return 0, err
		}
		n += m
	}
	return n, nil
}

// orRoot is path, or "/" for the root's "".
func orRoot(path string) string {
	if path == "" {
		return "/"
	}
	return path
}
