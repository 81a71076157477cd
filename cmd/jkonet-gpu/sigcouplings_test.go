package main

import (
	"path/filepath"
	"testing"
)

// TestSIGTERMWhileCoupling (issue 19): a SIGTERM while train computes the
// couplings waited for every transition's plan (20 s here, minutes on
// large data, so a scheduler's SIGKILL ended the job with no word) and
// then wrote a checkpoint of 0 steps. Now train stops within seconds with
// one line, and writes nothing.
func TestSIGTERMWhileCoupling(t *testing.T) {
	code, lines := sigtermMidway(t, func(data, out string) []string {
		return []string{"train", "--data", data, "--model", "potential", "--epochs", "1", "--device", "cpu", "--quiet",
			"--out", filepath.Join(out, "m.safetensors")}
	})
	if code == 0 || len(lines) != 1 || lines[0] != "jkonet-gpu: interrupted while computing the couplings; nothing written" {
		t.Errorf("status %d, stderr %q; want one line saying nothing was written", code, lines)
	}
}
