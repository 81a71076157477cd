package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/models/modelfile"
)

// TestSeedSweepOnOnePreprocess: couplings preprocessed once (seed 0) train
// with --seed 2, and the model records both seeds: the training's and the
// couplings'. Before, train refused "computed with other options: seed 0
// (now 2)".
func TestSeedSweepOnOnePreprocess(t *testing.T) {
	dir := t.TempDir()
	at := func(name string) string { return filepath.Join(dir, name) }
	read := []string{"--data", daysCells, "--time-key", "day", "--obsm", "X_pca", "--quiet"}
	mustRun(t, append([]string{"preprocess", "--out", at("c.npz")}, read...)...)
	mustRun(t, append([]string{"train", "--couplings", at("c.npz"), "--seed", "2", "--model", "potential", "--epochs", "2",
		"--checkpoint-every", "0", "--out", at("m.safetensors")}, read...)...)
	f, err := modelfile.Load(at("m.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := f.Record(at("m.safetensors"))
	if err != nil || rec == nil || rec.Couplings == nil {
		t.Fatalf("training record %+v (%v)", rec, err)
	}
	if rec.Seed != 2 || rec.Couplings.Options.Seed != 0 {
		t.Errorf("the record says training seed %d and couplings seed %d, want 2 and 0", rec.Seed, rec.Couplings.Options.Seed)
	}
	// Other coupling options are still refused.
	status, _, errOut := jk(t, append([]string{"train", "--couplings", at("c.npz"), "--components", "3", "--model", "potential", "--epochs", "2",
		"--checkpoint-every", "0", "--out", at("m2.safetensors")}, read...)...)
	if want := "computed with other options: components 10 (now 3)"; status == 0 || !strings.Contains(errOut, want) {
		t.Errorf("--components 3 on couplings of 10 components: status %d, stderr %q, want %q", status, errOut, want)
	}
}
