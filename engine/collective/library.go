package collective

import (
	"fmt"

	"github.com/jkonet-gpu/jkonet-gpu/internal/dlopen"
)

// open opens the library at path and binds fns (internal/dlopen); what
// names the library in errors ("Open MPI", "NCCL") and missing says why a
// missing function matters.
func open(what, path string, scope dlopen.Scope, missing string, fns ...dlopen.Func) (*dlopen.Library, error) {
	l, err := dlopen.Open(what, path, scope)
	if err != nil {
		return nil, err
	}
	if err := l.Bind(fns...); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("%w (%s)", err, missing)
	}
	return l, nil
}
