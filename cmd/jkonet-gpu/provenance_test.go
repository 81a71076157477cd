package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/ot/couplings"
)

// TestStaleInputsAreRefused: a cached --couplings file is reused only for
// the data and options it was computed from, and --resume only on the data
// the checkpoint was trained on (issue 10, defect 5: both used to be taken
// whatever the flags and data said).
func TestStaleInputsAreRefused(t *testing.T) {
	dir := t.TempDir()
	train, test := smallRun(t, dir)
	cpl := filepath.Join(dir, "cpl.npz")
	base := []string{"train", "--model", "potential", "--epochs", "1", "--batch-size", "50", "--quiet", "--checkpoint-every", "1"}
	m1 := filepath.Join(dir, "m1.safetensors")
	mustRun(t, append(base, "--data", train, "--couplings", cpl, "--components", "3", "--out", m1)...)
	cp, err := couplings.Load(cpl)
	if err != nil || cp.Provenance == nil || cp.Provenance.Options.Components != 3 {
		t.Fatalf("cached couplings: %+v, %v", cp, err)
	}
	// The same data and flags reuse the cache.
	mustRun(t, append(base, "--data", train, "--couplings", cpl, "--components", "3", "--out", filepath.Join(dir, "m2.safetensors"))...)
	keep := []string{"all.npz", "train.npz", "test.npz", "cpl.npz", "m1.safetensors", "m1.safetensors.ckpt", "m2.safetensors", "m2.safetensors.ckpt"}
	mustFail(t, dir, keep, "computed with other options: components 3 (now 10)",
		append(base, "--data", train, "--couplings", cpl, "--out", filepath.Join(dir, "x.safetensors"))...)
	mustFail(t, dir, keep, "computed from other data",
		append(base, "--data", test, "--couplings", cpl, "--components", "3", "--out", filepath.Join(dir, "x.safetensors"))...)
	mustFail(t, dir, keep, "the checkpoint was trained on other data",
		append(base, "--data", test, "--epochs", "2", "--resume", m1+".ckpt", "--out", filepath.Join(dir, "x.safetensors"))...)
	// A file without provenance (another tool's) is used, with a warning.
	cp.Provenance = nil
	if err := cp.Save(cpl); err != nil {
		t.Fatal(err)
	}
	status, _, errOut := jk(t, append(base, "--data", train, "--couplings", cpl, "--out", filepath.Join(dir, "m3.safetensors"))...)
	if status != 0 || errOut == "" {
		t.Fatalf("couplings without provenance: status %d, stderr %q", status, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "m3.safetensors")); err != nil {
		t.Fatal(err)
	}
}
