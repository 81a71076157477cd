package atomicfile

import (
	"errors"
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
