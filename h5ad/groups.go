package h5ad

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The HDF5 library allocates each group's local heap at the size the heap
// header claims, unchecked: a corrupt size crashes the process with an
// out-of-memory error that cannot be recovered. checkGroups walks the
// groups of a file in the original format (superblock 0 or 1: symbol
// tables of a v1 B-tree, symbol table nodes and a local heap, HDF5 File
// Format Specification III.A–III.D) before the library opens it, and
// refuses any local heap that does not lie inside the file. Files of
// superblock 2 and later keep their links in object headers instead.

const msgSymbolTable = 0x0011

// maxGroupNodes bounds the B-tree and symbol table nodes visited.
const maxGroupNodes = 1 << 16

type groupWalk struct {
	*h5reader
	seen map[uint64]bool // B-tree nodes, symbol table nodes, heaps and headers visited
}

// checkGroups validates the local heaps of every group reachable from the
// root of a superblock 0 or 1 file; other files pass unchecked.
func (h *h5reader) checkGroups() error {
	sb, err := h.readAt(0, 24)
	if err != nil {
		return err
	}
	version := sb[8]
	if version > 1 {
		return nil
	}
	// The root's symbol table entry follows 4 addresses (base, free space,
	// end of file, driver information) after the 24 (v0) or 28 (v1) bytes
	// of fixed fields.
	start := uint64(24 + 4*version)
	entry, err := h.readAt(start+uint64(4*h.offsetSize), uint64(2*h.offsetSize+24))
	if err != nil {
		return fmt.Errorf("superblock: %w", err)
	}
	w := &groupWalk{h, map[uint64]bool{}}
	return w.entry(entry, 0)
}

// entry checks the object of a symbol table entry: link name offset,
// object header address, cache type, reserved, and 16 scratch bytes that
// hold the B-tree and heap addresses of a group (cache type 1).
func (w *groupWalk) entry(e []byte, depth int) error {
	o := w.offsetSize
	addr := leUint(e[o : 2*o])
	if binary.LittleEndian.Uint32(e[2*o:]) == 1 {
		scratch := e[2*o+8:]
		if err := w.group(leUint(scratch[:o]), leUint(scratch[o:2*o]), depth); err != nil {
			return err
		}
	}
	if w.seen[addr] || addr == undefinedAddress(o) {
		return nil
	}
	w.seen[addr] = true
	msgs, err := w.messages(addr)
	if err != nil {
		return nil // not a readable object header: the library reports it
	}
	for _, m := range msgs {
		if m.kind == msgSymbolTable && len(m.data) >= 2*o {
			if err := w.group(leUint(m.data[:o]), leUint(m.data[o:2*o]), depth); err != nil {
				return err
			}
		}
	}
	return nil
}

// group checks a group's local heap and every entry of its B-tree.
func (w *groupWalk) group(btree, heap uint64, depth int) error {
	if depth > 64 {
		return errors.New("groups nest more than 64 deep")
	}
	if !w.seen[heap] {
		w.seen[heap] = true
		l, o := uint64(w.lengthSize), uint64(w.offsetSize)
		head, err := w.readAt(heap, 8+2*l+o)
		if err != nil {
			return fmt.Errorf("local heap: %w", err)
		}
		if string(head[:4]) != "HEAP" {
			return fmt.Errorf("no local heap at address %d", heap)
		}
		size, data := leUint(head[8:8+l]), leUint(head[8+2*l:])
		if data >= uint64(w.size) || size > uint64(w.size)-data {
			return fmt.Errorf("local heap at address %d claims %d bytes at address %d, beyond the end of the file (%d bytes)", heap, size, data, w.size)
		}
	}
	return w.node(btree, depth)
}

// node checks the group B-tree node (type 0) at addr: its children are
// B-tree nodes (level > 0) or symbol table nodes.
func (w *groupWalk) node(addr uint64, depth int) error {
	if w.seen[addr] {
		return nil
	}
	o, l := uint64(w.offsetSize), uint64(w.lengthSize)
	head, err := w.readAt(addr, 8+2*o)
	if err != nil {
		return fmt.Errorf("group B-tree: %w", err)
	}
	if string(head[:4]) == "SNOD" {
		return w.symbols(addr, depth)
	}
	if err := w.visit(addr); err != nil {
		return err
	}
	if string(head[:4]) != "TREE" || head[4] != 0 {
		return fmt.Errorf("no group B-tree node at address %d", addr)
	}
	level, entries := head[5], uint64(binary.LittleEndian.Uint16(head[6:8]))
	body, err := w.readAt(addr+8+2*o, entries*(l+o)+l)
	if err != nil {
		return fmt.Errorf("group B-tree: %w", err)
	}
	for i := range entries {
		child := leUint(body[i*(l+o)+l : (i+1)*(l+o)])
		if level > 0 {
			err = w.node(child, depth)
		} else {
			err = w.symbols(child, depth)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// visit marks a node seen, bounding how many are walked.
func (w *groupWalk) visit(addr uint64) error {
	w.seen[addr] = true
	if len(w.seen) > maxGroupNodes {
		return errors.New("too many group nodes")
	}
	return nil
}

// symbols checks the entries of the symbol table node at addr.
func (w *groupWalk) symbols(addr uint64, depth int) error {
	if w.seen[addr] {
		return nil
	}
	if err := w.visit(addr); err != nil {
		return err
	}
	head, err := w.readAt(addr, 8)
	if err != nil {
		return fmt.Errorf("symbol table node: %w", err)
	}
	if string(head[:4]) != "SNOD" {
		return fmt.Errorf("no symbol table node at address %d", addr)
	}
	size := uint64(2*w.offsetSize + 24)
	n := uint64(binary.LittleEndian.Uint16(head[6:8]))
	body, err := w.readAt(addr+8, n*size)
	if err != nil {
		return fmt.Errorf("symbol table node: %w", err)
	}
	for i := range n {
		if err := w.entry(body[i*size:(i+1)*size], depth+1); err != nil {
			return err
		}
	}
	return nil
}
