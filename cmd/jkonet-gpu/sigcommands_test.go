package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMEndsEveryCommandInOneLine (issue 19): commands other than
// train died silently by the signal (status -1, nothing on stderr); now
// SIGTERM during preprocess's couplings ends it with one line, non-zero,
// no output written.
func TestSIGTERMEndsEveryCommandInOneLine(t *testing.T) {
	code, lines := sigtermMidway(t, func(data, out string) []string {
		return []string{"preprocess", "--data", data, "--quiet", "--out", filepath.Join(out, "c.npz")}
	})
	if code != 1 || len(lines) != 1 || lines[0] != "jkonet-gpu: preprocess: interrupted (terminated); its outputs are left as they were" {
		t.Errorf("status %d, stderr %q; want status 1 and one line", code, lines)
	}
}

// sigtermMidway generates 20000 particles, runs the test binary as the
// CLI with args(their file, an empty folder), sends it SIGTERM a second
// later (reading takes a few ms, coupling 20000 × 20000 points seconds)
// and returns its exit status and the lines of its stderr other than
// notes. It fails the test where the command still runs 10 s after the
// signal or leaves anything in the folder, and skips it under -short.
func sigtermMidway(t *testing.T, args func(data, out string) []string) (int, []string) {
	t.Helper()
	if testing.Short() {
		t.Skip("generates 20000 particles")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "big.npz")
	mustRun(t, "generate", "--potential", "styblinski_tang", "--particles", "20000", "--steps", "2", "--quiet", "--out", data)
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], args(data, out)...)
	cmd.Env = append(os.Environ(), "JKONET_GPU_AS_CLI=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("still running 10 s after SIGTERM: %s", stderr.String())
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if !strings.HasPrefix(l, "note: ") {
			lines = append(lines, l)
		}
	}
	if entries, _ := os.ReadDir(out); len(entries) > 0 {
		t.Errorf("left %s behind", entries[0].Name())
	}
	return cmd.ProcessState.ExitCode(), lines
}
