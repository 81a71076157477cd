package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteRenamesOnlyOnSuccess(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.bin")
	if err := Write(path, func(w io.Writer) error { _, err := io.WriteString(w, "hello"); return err }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "hello" {
		t.Fatalf("content %q", b)
	}
	// A failing fill leaves the previous file untouched and no temporary behind.
	boom := errors.New("boom")
	err := Write(path, func(w io.Writer) error { io.WriteString(w, "partial"); return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want boom", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "hello" {
		t.Fatalf("content changed to %q", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want 1", len(entries))
	}
}

func TestUnwritable(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no", "such", "out.npz")
	err := Write(missing, func(io.Writer) error { return nil })
	if err == nil || !strings.HasPrefix(err.Error(), missing+": cannot create output file") || strings.Contains(err.Error(), ".tmp-") {
		t.Fatalf("got %v", err)
	}
	if err := CheckWritable(missing); err == nil {
		t.Fatal("CheckWritable accepted a missing directory")
	}
	if err := CheckWritable(dir); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("CheckWritable(dir): %v", err)
	}
	if err := CheckWritable(filepath.Join(dir, "ok.npz")); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("CheckWritable left %d files", len(entries))
	}
}

// TestWriteFlushesBeforeAndAfterRename: the data reach the disk before the
// rename that makes them the destination (else a power loss can leave an
// empty file under the destination's name), and the directory entry after
// it (else the rename itself can be lost).
func TestWriteFlushesBeforeAndAfterRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.safetensors")
	var synced []string
	syncFile = func(f *os.File) error {
		_, err := os.Stat(path)
		synced = append(synced, fmt.Sprintf("%s (destination exists: %v)", filepath.Base(f.Name()), err == nil))
		return f.Sync()
	}
	defer func() { syncFile = (*os.File).Sync }()
	if err := Write(path, func(w io.Writer) error { _, err := io.WriteString(w, "state"); return err }); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 2 || !strings.HasPrefix(synced[0], ".ckpt.safetensors.tmp-") || !strings.HasSuffix(synced[0], "(destination exists: false)") ||
		synced[1] != filepath.Base(dir)+" (destination exists: true)" {
		t.Fatalf("flushed %q, want the temporary file before the rename, then the directory", synced)
	}
	// A failed flush leaves no file behind.
	syncFile = func(*os.File) error { return errors.New("I/O error") }
	err := Write(filepath.Join(dir, "other"), func(w io.Writer) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "cannot flush to disk: I/O error") {
		t.Fatalf("failed flush: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "other")); err == nil {
		t.Fatal("a file whose flush failed was renamed into place")
	}
}
