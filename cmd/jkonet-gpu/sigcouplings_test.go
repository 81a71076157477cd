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

// TestSIGTERMWhileCoupling (issue 19): a SIGTERM while train computes the
// couplings waited for every transition's plan (20 s here, minutes on
// large data, so a scheduler's SIGKILL ended the job with no word) and
// then wrote a checkpoint of 0 steps. Now train stops within seconds with
// one line, and writes nothing.
func TestSIGTERMWhileCoupling(t *testing.T) {
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
	cmd := exec.Command(os.Args[0], "train", "--data", data, "--model", "potential", "--epochs", "1", "--device", "cpu", "--quiet",
		"--out", filepath.Join(out, "m.safetensors"))
	cmd.Env = append(os.Environ(), "JKONET_GPU_AS_CLI=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // reading takes a few ms, coupling 20000 × 20000 points seconds
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
	if code := cmd.ProcessState.ExitCode(); code == 0 || len(lines) != 1 || lines[0] != "jkonet-gpu: interrupted while computing the couplings; nothing written" {
		t.Errorf("status %d, stderr %q; want one line saying nothing was written", code, lines)
	}
	if entries, _ := os.ReadDir(out); len(entries) > 0 {
		t.Errorf("left %s behind", entries[0].Name())
	}
}
