package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// tinyDisk mounts a tmpfs of size bytes and fills it to leave about free
// bytes (tmpfs counts whole pages), or skips the test where that is not allowed (not root, no mount).
func tinyDisk(t *testing.T, size, free int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })
	if fill := size - free; fill > 0 {
		f, err := os.Create(filepath.Join(dir, "filler"))
		if err != nil {
			t.Fatal(err)
		}
		f.Write(make([]byte, fill)) // short on ENOSPC: full is what we want
		f.Close()
	}
	return dir
}

// TestFullDisk (issue 19): on a full disk, split writes neither output when
// the second does not fit (before, the first was left behind), and
// train --log-json leaves no partial log (before, a truncated file).
func TestFullDisk(t *testing.T) {
	dir := t.TempDir()
	data, _ := smallRun(t, dir)
	full := tinyDisk(t, 64<<10, 0)
	train, test := filepath.Join(dir, "train2.npz"), filepath.Join(full, "test2.npz")
	status, _, errOut := jk(t, "split", "--data", data, "--train", train, "--test", test, "--quiet")
	if status == 0 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || strings.Contains(errOut, ".tmp-") {
		t.Fatalf("split on a full disk: status %d, stderr %q", status, errOut)
	}
	for _, p := range []string{train, test} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("split on a full disk left %s behind", p)
		}
	}
	entries, _ := os.ReadDir(full)
	if len(entries) != 1 {
		t.Errorf("split left %d files on the full disk, want only the filler", len(entries))
	}

	logDisk := full
	log := filepath.Join(logDisk, "log.jsonl")
	status, _, errOut = jk(t, "train", "--data", data, "--model", "potential", "--epochs", "50", "--quiet",
		"--out", filepath.Join(dir, "m.safetensors"), "--checkpoint-every", "0", "--log-json", log)
	if status == 0 || !strings.Contains(errOut, "--log-json") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || strings.Contains(errOut, ".tmp-") {
		t.Fatalf("train --log-json on a full disk: status %d, stderr %q", status, errOut)
	}
	if entries, _ := os.ReadDir(logDisk); len(entries) != 1 {
		t.Errorf("train left %d files on the full disk, want only the filler (no partial log)", len(entries))
	}
}
