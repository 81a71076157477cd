package npz

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/internal/fuzzcheck"
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
