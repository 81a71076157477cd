// Package dlopen opens a shared library at run time and binds its C
// functions to Go func variables, through purego (no cgo), so that a binary
// built with CGO_ENABLED=0 runs where the library is missing and only the
// features that need it fail. The CUDA driver (kernels/driver), Open MPI and
// NCCL (engine/collective) are opened this way.
//
// Errors are one line and name the library: "cannot load <what> <path>:
// <the loader's reason>", "<what> <path> lacks <symbol>: <the loader's
// reason>".
package dlopen

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/ebitengine/purego"
)

// Scope is where the library's symbols are visible.
type Scope int

const (
	// Local keeps the symbols to this handle (RTLD_LOCAL).
	Local Scope = iota
	// Global lets libraries loaded later resolve against them
	// (RTLD_GLOBAL): Open MPI's plugins (mca_*.so) need libmpi's.
	Global
)

// Func is a C function of a library and a pointer to the Go func variable
// it binds, typed after the C signature (see purego.RegisterFunc).
type Func struct {
	Name string
	Fn   any
}

// Library is an opened shared library. It stays loaded unless closed.
type Library struct {
	what, path string
	handle     uintptr
}

// Open loads the library at path (a path, or a name the dynamic loader
// searches for) with every symbol resolved now (RTLD_NOW), and binds fns.
// what names the library in errors ("the CUDA driver", "Open MPI"). A
// library that lacks one of fns is closed again and none of the later ones
// is bound.
func Open(what, path string, scope Scope, fns ...Func) (*Library, error) {
	flags := purego.RTLD_NOW | purego.RTLD_LOCAL
	if scope == Global {
		flags = purego.RTLD_NOW | purego.RTLD_GLOBAL
	}
	// dlerror's text is per OS thread: stay on one from dlopen to the
	// dlerror purego calls after it.
	runtime.LockOSThread()
	handle, err := purego.Dlopen(path, flags)
	runtime.UnlockOSThread()
	if err != nil {
		return nil, fmt.Errorf("cannot load %s %s: %s", what, path, reason(err, path))
	}
	l := &Library{what: what, path: path, handle: handle}
	if err := l.Bind(fns...); err != nil {
		_ = l.Close()
		return nil, err
	}
	return l, nil
}

// Path is the path or name the library was opened by.
func (l *Library) Path() string { return l.path }

// Bind binds each of fns in order, stopping at the first the library lacks.
func (l *Library) Bind(fns ...Func) error {
	for _, f := range fns {
		sym, err := l.Lookup(f.Name)
		if err != nil {
			return err
		}
		purego.RegisterFunc(f.Fn, sym)
	}
	return nil
}

// Lookup is the address of the symbol name: a function, or a variable such
// as Open MPI's predefined handles.
func (l *Library) Lookup(name string) (uintptr, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sym, err := purego.Dlsym(l.handle, name)
	if err != nil {
		return 0, fmt.Errorf("%s %s lacks %s: %s", l.what, l.path, name, reason(err, l.path))
	}
	return sym, nil
}

// Close unloads the library (dlclose). Only a library none of whose
// functions may still be called can be closed.
func (l *Library) Close() error { return purego.Dlclose(l.handle) }

// reason is a loader error as one line, without the leading "path: " that
// glibc's text repeats.
func reason(err error, path string) string {
	var parts []string
	for _, s := range strings.FieldsFunc(err.Error(), func(r rune) bool { return r == '\n' || r == '\r' }) {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return "unknown dynamic loader error"
	}
	return strings.TrimPrefix(strings.Join(parts, "; "), path+": ")
}
