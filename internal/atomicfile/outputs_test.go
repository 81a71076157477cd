package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Issue 19: an output path that is an input (the same path, a symbolic
// link to it, a hard link, "./"), another output, or not a regular file is
// refused before any work, in one line naming both flags.
func TestCheckOutputsRefusesInputs(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data.npz")
	if err := os.WriteFile(data, []byte("input"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.npz")
	hard := filepath.Join(dir, "hard.npz")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(data, hard); err != nil {
		t.Fatal(err)
	}
	dotted := filepath.Join(dir, ".", "sub", "..", "data.npz")
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	for _, out := range []string{data, link, hard, dotted} {
		err := CheckOutputs([]Named{{"--out", out}}, Named{"--model", ""}, Named{"--data", data})
		if err == nil || !strings.Contains(err.Error(), "--out and --data name the same file") || strings.Contains(err.Error(), "\n") {
			t.Errorf("--out %s: got %v, want a refusal naming --out and --data", out, err)
		}
	}
	// Two outputs, one new path spelled two ways.
	fresh := filepath.Join(dir, "new.npz")
	err := CheckOutputs([]Named{{"--train", fresh}, {"--test", filepath.Join(dir, "sub", "..", "new.npz")}}, Named{"--data", data})
	if err == nil || !strings.Contains(err.Error(), "--train and --test name the same file") {
		t.Errorf("two outputs on one path: got %v", err)
	}
	if err := CheckOutputs([]Named{{"--out", fresh}}, Named{"--data", data}); err != nil {
		t.Errorf("a new path: %v", err)
	}
	if b, _ := os.ReadFile(data); string(b) != "input" {
		t.Fatalf("the input changed to %q", b)
	}
	if err := CheckOutputs([]Named{{"--out", ""}}); err == nil || !strings.Contains(err.Error(), "--out: empty path") {
		t.Errorf("empty path: got %v", err)
	}
}

// A directory, a FIFO, a device or a read-only file named as an output is
// refused, by the early check and by Write itself, rather than replaced by
// the rename.
func TestNonRegularOutputsRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	ro := filepath.Join(dir, "ro.npz")
	if err := os.WriteFile(ro, []byte("keep"), 0o444); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	for _, c := range []struct{ path, want string }{
		{fifo, "is a FIFO, not a regular file"},
		{ro, "is read-only"},
		{sub, "is a directory"},
	} {
		if err := CheckWritable(c.path); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckWritable(%s): got %v, want %q", c.path, err, c.want)
		}
		err := Write(c.path, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Write(%s): got %v, want %q", c.path, err, c.want)
		}
	}
	if st, err := os.Lstat(fifo); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced")
	}
	if b, _ := os.ReadFile(ro); string(b) != "keep" {
		t.Errorf("the read-only file changed to %q", b)
	}
	// A device node: checked only (never written, so a broken check cannot
	// replace /dev/null when the tests run as root).
	if _, err := os.Stat("/dev/null"); err == nil {
		if err := CheckOutputs([]Named{{"--out", "/dev/null"}}); err == nil || !strings.Contains(err.Error(), "--out: /dev/null: is a character device") {
			t.Errorf("/dev/null: got %v", err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Errorf("directory holds %d entries, want 3 (temporary files left?)", len(entries))
	}
}

// WriteAll writes every output or none: when the second cannot be
// written (here its fill fails, as on a full disk) the first is not
// created either, and no temporary file is left.
func TestWriteAllAllOrNone(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	full := errors.New("no space left on device")
	err := WriteAll(
		Output{a, func(w io.Writer) error { _, err := io.WriteString(w, "A"); return err }},
		Output{b, func(w io.Writer) error { io.WriteString(w, "partial"); return full }},
	)
	if !errors.Is(err, full) {
		t.Fatalf("got %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("left %d files behind, want none", len(entries))
	}
	// A failing flush to disk of the second output, likewise.
	defer func(f func(*os.File) error) { syncFile = f }(syncFile)
	syncFile = func(f *os.File) error {
		if strings.Contains(f.Name(), ".b.tmp-") {
			return syscall.ENOSPC
		}
		return nil
	}
	err = WriteAll(
		Output{a, func(w io.Writer) error { _, err := io.WriteString(w, "A"); return err }},
		Output{b, func(w io.Writer) error { _, err := io.WriteString(w, "B"); return err }},
	)
	if err == nil || strings.Contains(err.Error(), ".tmp-") {
		t.Fatalf("got %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("left %d files behind, want none", len(entries))
	}
	syncFile = func(*os.File) error { return nil }
	if err := WriteAll(
		Output{a, func(w io.Writer) error { _, err := io.WriteString(w, "A"); return err }},
		Output{b, func(w io.Writer) error { _, err := io.WriteString(w, "B"); return err }},
	); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{a: "A", b: "B"} {
		if got, _ := os.ReadFile(p); string(got) != want {
			t.Errorf("%s holds %q", p, got)
		}
	}
}

// A File whose writes fail (a full disk) leaves no file behind at Commit.
func TestFileCommitAfterWriteError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log.jsonl")
	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(f, "epoch 1\n")
	f.tmp.Close() // the next flush fails, as on a full disk
	if err := f.Commit(); err == nil || strings.Contains(err.Error(), ".tmp-") {
		t.Fatalf("got %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("left %d files behind, want none", len(entries))
	}
}
