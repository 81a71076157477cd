package h5ad

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/scigolib/hdf5"
)

// The HDF5 library lists a group's hard links only: soft links (a path in
// the file, which h5py writes for f["a"] = h5py.SoftLink("/b")) and
// external links (a path in another file) are not members to it.
// checkGroups records them by group path (h5reader.links); child follows
// soft links through them, as h5py does, refusing dangling ones and
// cycles, and listNames names the links it cannot follow.

// maxSoftHops is how many soft links one lookup follows (HDF5's default
// H5L_NUM_LINKS is 16): more is a cycle.
const maxSoftHops = 16

// groupPaths maps each open file's library groups to their paths and the
// file's links.
var groupPaths sync.Map // *hdf5.Group → groupPlace

type groupPlace struct {
	path  string // "" for the root, else "/obs", "/obsm", …
	root  *hdf5.Group
	links map[string]map[string]link
}

// registerGroups records the path of every group of f reachable from the
// root (the first path, where a group has several).
func (f *h5file) registerGroups() {
	root := f.file.Root()
	var visit func(g *hdf5.Group, p string, depth int)
	visit = func(g *hdf5.Group, p string, depth int) {
		if _, seen := groupPaths.LoadOrStore(g, groupPlace{p, root, f.links}); seen || depth > 64 {
			return
		}
		for _, c := range g.Children() {
			if sub, ok := c.(*hdf5.Group); ok {
				visit(sub, p+"/"+c.Name(), depth+1)
			}
		}
	}
	if len(f.links) > 0 {
		visit(root, "", 0)
	}
}

// unregisterGroups forgets the groups of f.
func (f *h5file) unregisterGroups() {
	groupPaths.Range(func(k, v any) bool {
		if v.(groupPlace).root == f.file.Root() {
			groupPaths.Delete(k)
		}
		return true
	})
}

// softChild follows the soft link name of g, if it is one, to its target
// (nil where there is none, or the links form a cycle).
func softChild(g *hdf5.Group, name string) hdf5.Object {
	v, ok := groupPaths.Load(g)
	if !ok {
		return nil
	}
	place := v.(groupPlace)
	return place.follow(place.path, name, 0)
}

// follow resolves member name of the group at dir, following soft links.
func (p groupPlace) follow(dir, name string, hops int) hdf5.Object {
	l, ok := p.links[dir][name]
	if !ok || l.soft == "" || hops >= maxSoftHops {
		return nil
	}
	target := l.soft
	if !strings.HasPrefix(target, "/") {
		target = dir + "/" + target
	}
	target = path.Clean("/" + target)
	if target == "/" {
		return p.root
	}
	var obj hdf5.Object = p.root
	parts := strings.Split(strings.TrimPrefix(target, "/"), "/")
	at := ""
	for i, part := range parts {
		g, ok := obj.(*hdf5.Group)
		if !ok {
			return nil
		}
		next := hardChild(g, part)
		if next == nil {
			next = p.follow(at, part, hops+1)
		}
		if next == nil {
			return nil
		}
		obj, at = next, at+"/"+parts[i]
	}
	return obj
}

// hardChild is the member name of g that the library lists.
func hardChild(g *hdf5.Group, name string) hdf5.Object {
	for _, c := range g.Children() {
		if c.Name() == name {
			return c
		}
	}
	return nil
}

// linkNotes names the links of g that cannot be followed: external links,
// dangling soft links and soft links in a cycle.
func linkNotes(g *hdf5.Group) []string {
	v, ok := groupPaths.Load(g)
	if !ok {
		return nil
	}
	place := v.(groupPlace)
	var notes []string
	for _, name := range slices.Sorted(mapKeys(place.links[place.path])) {
		l := place.links[place.path][name]
		switch {
		case l.extFile != "":
			notes = append(notes, fmt.Sprintf("%s is an external link to %s:%s, which is not followed", name, l.extFile, l.extPath))
		case place.follow(place.path, name, 0) == nil:
			notes = append(notes, fmt.Sprintf("%s is a soft link to %s, which leads nowhere (missing or a cycle)", name, l.soft))
		}
	}
	if len(notes) > 5 {
		notes = append(notes[:5], fmt.Sprintf("and %d more links", len(notes)-5))
	}
	return notes
}

func mapKeys(m map[string]link) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
