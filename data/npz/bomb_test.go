package npz

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/internal/fuzzcheck"
	"github.com/jkonet-gpu/jkonet-gpu/internal/membudget"
)

// TestInflationBomb (issue 19): a compressed member whose header honestly
// declares 24 MB of uint8 (decoded to 192 MB of int64) and whose data does
// inflate to it, from an archive of about 24 kB, is refused in one line
// naming the array, before the memory is allocated (before, the whole
// member was inflated and widened).
func TestInflationBomb(t *testing.T) {
	const n = 24 << 20
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "x.npy", Method: zip.Deflate})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(npyEntry("{'descr': '|u1', 'fortran_order': False, 'shape': (24, 1048576), }", nil))
	w.Write(make([]byte, n))
	zw.Close()
	path := filepath.Join(t.TempDir(), "bomb.npz")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var rerr error
	fuzzcheck.Alloc(t, int64(buf.Len()), fuzzcheck.PerByte, func() { _, rerr = ReadFile(path) })
	if rerr == nil || !strings.HasPrefix(rerr.Error(), path+`: array "x": shape (24, 1048576) of |u1 decodes to`) || strings.Contains(rerr.Error(), "\n") {
		t.Fatalf("got %v", rerr)
	}
}

// TestMemoryBudget (issue 19): what an archive decodes to is counted
// against the memory budget (--max-memory) too, which an archive of a few
// MB may honestly exceed within the bound relative to its size: a budget
// one byte short of it is refused in one line naming the array and the
// budget; the exact budget reads it.
func TestMemoryBudget(t *testing.T) {
	t.Cleanup(func() { membudget.Set(0) })
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range []string{"a", "b"} {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: name + ".npy", Method: zip.Store})
		w.Write(npyEntry("{'descr': '<f4', 'fortran_order': False, 'shape': (1000,), }", make([]byte, 4000)))
	}
	zw.Close()
	path := filepath.Join(t.TempDir(), "two.npz")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	const cost = 2 * 1000 * (4 + 8) // raw float32 and the float64 each becomes
	membudget.Set(cost - 1)
	_, err := ReadFile(path)
	if err == nil || err.Error() != path+`: array "b": shape (1000,) of <f4 (with the arrays before it): needs 24000 bytes of memory, more than the budget of 23999 (set by --max-memory)` {
		t.Fatalf("under a budget of %d: %v", cost-1, err)
	}
	membudget.Set(cost)
	if _, err := ReadFile(path); err != nil {
		t.Fatalf("under a budget of %d: %v", cost, err)
	}
}
