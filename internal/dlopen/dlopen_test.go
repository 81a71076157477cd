package dlopen

import (
	"errors"
	"strings"
	"testing"
)

// libc is glibc's C library, which every Linux test machine has.
const libc = "libc.so.6"

func TestOpenBindsFunctions(t *testing.T) {
	var abs func(int32) int32
	var strlen func(string) uint64
	l, err := Open("the C library", libc, Local, Func{"abs", &abs}, Func{"strlen", &strlen})
	if err != nil {
		t.Fatal(err)
	}
	if got := abs(-7); got != 7 {
		t.Errorf("abs(-7) = %d, want 7", got)
	}
	if got := strlen("jkonet"); got != 6 {
		t.Errorf("strlen(\"jkonet\") = %d, want 6", got)
	}
	if l.Path() != libc {
		t.Errorf("Path() = %q, want %q", l.Path(), libc)
	}
	if sym, err := l.Lookup("environ"); err != nil || sym == 0 {
		t.Errorf("Lookup(environ) = %#x, %v; want a variable's address", sym, err)
	}
}

func TestOpenMissingLibrary(t *testing.T) {
	const path = "/nonexistent/libjkonet-missing.so"
	_, err := Open("the test library", path, Global)
	if err == nil {
		t.Fatal("opened a library that does not exist")
	}
	msg := err.Error()
	if want := "cannot load the test library " + path + ": "; !strings.HasPrefix(msg, want) {
		t.Errorf("error %q does not start with %q", msg, want)
	}
	if strings.Contains(msg, "\n") || strings.Count(msg, path) != 1 {
		t.Errorf("error %q: want one line naming the path once", msg)
	}
}

func TestOpenMissingFunction(t *testing.T) {
	var abs, missing func(int32) int32
	_, err := Open("the C library", libc, Local, Func{"jkonet_no_such_function", &missing}, Func{"abs", &abs})
	if err == nil {
		t.Fatal("bound a function the library lacks")
	}
	if want := "the C library " + libc + " lacks jkonet_no_such_function: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
	if missing != nil || abs != nil {
		t.Error("a failed Open bound functions")
	}
}

func TestReason(t *testing.T) {
	for _, c := range []struct{ err, want string }{
		{"/x/lib.so: cannot open shared object file: No such file or directory", "cannot open shared object file: No such file or directory"},
		{"first\n  second\r\n", "first; second"},
		{" \n", "unknown dynamic loader error"},
	} {
		if got := reason(errors.New(c.err), "/x/lib.so"); got != c.want {
			t.Errorf("reason(%q) = %q, want %q", c.err, got, c.want)
		}
	}
}
