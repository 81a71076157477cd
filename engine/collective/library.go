package collective

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/ebitengine/purego"
)

// symbol is a C function of a library and the Go func variable it binds.
type symbol struct {
	name string
	fn   any
}

// bind opens the library at path with dlopen flags and binds each symbol;
// what names the library in errors ("Open MPI", "NCCL") and missing says
// why a missing symbol matters.
func bind(what, path string, flags int, missing string, syms []symbol) (uintptr, error) {
	runtime.LockOSThread() // dlerror is per thread
	defer runtime.UnlockOSThread()
	handle, err := purego.Dlopen(path, flags)
	if err != nil {
		return 0, fmt.Errorf("cannot load %s %s: %s", what, path, strings.TrimPrefix(err.Error(), path+": "))
	}
	for _, s := range syms {
		sym, err := purego.Dlsym(handle, s.name)
		if err != nil {
			return 0, fmt.Errorf("%s %s lacks %s (%s)", what, path, s.name, missing)
		}
		purego.RegisterFunc(s.fn, sym)
	}
	return handle, nil
}
