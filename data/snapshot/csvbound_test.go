package snapshot

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/internal/membudget"
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

// TestCSVRowsWithinBudget (issue 19): rows are checked against the memory
// budget as they accumulate (a FIFO of short rows never ends): over it,
// one line naming the line and the budget.
func TestCSVRowsWithinBudget(t *testing.T) {
	t.Cleanup(func() { membudget.Set(0) })
	var b strings.Builder
	b.WriteString("t,x0,x1\n")
	for i := range 20000 {
		fmt.Fprintf(&b, "%d,1,2\n", i%2)
	}
	path := writeFile(t, "rows.csv", b.String())
	membudget.Set(1 << 20)
	_, err := Load(path, LoadOptions{})
	if err == nil || !strings.HasPrefix(err.Error(), path+": line 8193: 8192 rows of 3 columns and more: needs 1.18 MB of memory, more than the budget of 1.05 MB (set by --max-memory)") {
		t.Fatalf("under 1 MiB: %v", err)
	}
	membudget.Set(2 << 20)
	if _, err := Load(path, LoadOptions{}); err != nil {
		t.Fatalf("under 2 MiB: %v", err)
	}
}
