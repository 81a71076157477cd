package snapshot

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// zeros is an endless-looking stream of NUL bytes, as /dev/zero reads,
// cut at n bytes so that a reader without a bound ends (having allocated
// about n bytes or more) instead of hanging.
type zeros struct{ n int }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	k := min(len(p), z.n)
	clear(p[:k])
	z.n -= k
	return k, nil
}

// TestCSVEndlessLine (issue 19): a CSV that is one endless line (a link to
// /dev/zero) is refused in one line once the line passes the bound, having
// allocated a bounded amount (before, the whole stream was held).
func TestCSVEndlessLine(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := readCSV(&zeros{n: 256 << 20}, LoadOptions{})
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 8*maxCSVLine+1<<20 {
		t.Errorf("allocated %d bytes, want at most %d", got, 8*maxCSVLine+1<<20)
	}
	if err == nil || !strings.Contains(err.Error(), "line 1: longer than 8388608 bytes") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat("/dev/zero"); err != nil {
		return
	}
	link := filepath.Join(t.TempDir(), "zero.csv")
	if err := os.Symlink("/dev/zero", link); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(link, LoadOptions{}); err == nil || !strings.HasPrefix(err.Error(), link+": line 1: longer than") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("/dev/zero as CSV: got %v", err)
	}
}
