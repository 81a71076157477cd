package atomicfile

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestStaleTemporaryFilesRemoved (issue 19): the .NAME.tmp-* files a
// SIGKILL leaves beside an output (a checkpoint's, a log's) were never
// removed; the next write of that output removes those no writer holds
// (its lock is gone with the process) and that are older than staleAfter,
// and leaves a live writer's file, a fresh one, and other files alone.
func TestStaleTemporaryFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.safetensors.ckpt")
	old := time.Now().Add(-time.Hour)
	write := func(name string, mtime time.Time) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stale := write(".m.safetensors.ckpt.tmp-123456", old)
	fresh := write(".m.safetensors.ckpt.tmp-777", time.Now())
	other := write(".m.safetensors.ckpt.tmp-12x", old) // not this package's name
	unrelated := write(".m.safetensors.tmp-99", old)   // another output's
	live, err := Create(out)                           // a writer still at work
	if err != nil {
		t.Fatal(err)
	}
	defer live.Abort()
	if err := os.Chtimes(live.tmp.Name(), old, old); err != nil {
		t.Fatal(err)
	}

	if err := Write(out, func(w io.Writer) error { _, err := w.Write([]byte("done")); return err }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the stale %s is still there (%v)", filepath.Base(stale), err)
	}
	for _, p := range []string{fresh, other, unrelated, live.tmp.Name()} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(p), err)
		}
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != "done" {
		t.Errorf("output %q, %v", b, err)
	}
}
