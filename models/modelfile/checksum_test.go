package modelfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/safetensors"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
)

// TestChecksumCatchesDamage: one flipped bit in a checkpoint's optimiser
// state still decodes to a finite number, so before checksums the damaged
// checkpoint loaded and resumed silently; now Load refuses it, naming the
// checksum. A file without a checksum (an older version's) still loads.
func TestChecksumCatchesDamage(t *testing.T) {
	net, err := networks.NewNet("potential", 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	n := len(net.Params)
	f := &File{Kind: "potential", Dim: 2, Times: []float64{0, 1}, MeanInterval: 1, Params: net.Params,
		M: make([]float64, n), V: make([]float64, n), Steps: 3}
	for i := range f.V {
		f.M[i], f.V[i] = 0.5, 0.25
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "m.ckpt")
	if err := Save(path, f); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The last 8 bytes are a value of the last tensor in the data section;
	// flipping its lowest mantissa bit keeps it finite.
	b[len(b)-8] ^= 1
	damaged := filepath.Join(dir, "damaged.ckpt")
	if err := os.WriteFile(damaged, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := safetensors.ReadFile(damaged); err != nil {
		t.Fatalf("the damaged file should still parse as safetensors: %v", err)
	}
	_, err = Load(damaged)
	if err == nil || !strings.HasPrefix(err.Error(), damaged+`: metadata "checksum": the content does not match`) {
		t.Fatalf("damaged checkpoint: %v", err)
	}

	// Without the checksum key the same damaged content loads (no way to
	// tell), as files written before checksums must.
	tensors, meta, err := safetensors.ReadFile(damaged)
	if err != nil {
		t.Fatal(err)
	}
	delete(meta, checksumKey)
	old := filepath.Join(dir, "old.ckpt")
	if err := safetensors.WriteFile(old, tensors, meta); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(old); err != nil {
		t.Fatalf("file without a checksum: %v", err)
	}
	// Editing a metadata value is caught too.
	meta[checksumKey] = checksum(tensors, meta)
	meta["steps"] = "4"
	edited := filepath.Join(dir, "edited.ckpt")
	if err := safetensors.WriteFile(edited, tensors, meta); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(edited); err == nil || !strings.Contains(err.Error(), `metadata "checksum"`) {
		t.Fatalf("edited metadata: %v", err)
	}
}
