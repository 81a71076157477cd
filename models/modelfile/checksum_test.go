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

	// Without the checksum key the same damaged content is refused: from
	// format version 2 on the checksum is required (issue 19: deleting it
	// turned the check off).
	tensors, meta, err := safetensors.ReadFile(damaged)
	if err != nil {
		t.Fatal(err)
	}
	delete(meta, checksumKey)
	removed := filepath.Join(dir, "removed.ckpt")
	if err := safetensors.WriteFile(removed, tensors, meta); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(removed); err == nil || err.Error() != removed+`: metadata "checksum": missing, which a file of format version 2 must have (it was removed: the content cannot be checked)` {
		t.Fatalf("checksum removed: %v", err)
	}
	// Without a version (a file written before versions, version 1) and
	// without a checksum, it loads (no way to tell), with a warning.
	delete(meta, versionKey)
	old := filepath.Join(dir, "old.ckpt")
	if err := safetensors.WriteFile(old, tensors, meta); err != nil {
		t.Fatal(err)
	}
	var warned []string
	Warn = func(s string) { warned = append(warned, s) }
	defer func() { Warn = nil }()
	if _, err := Load(old); err != nil {
		t.Fatalf("file of version 1 without a checksum: %v", err)
	}
	if want := old + ": written before checksums (no format version): its content cannot be checked"; len(warned) != 1 || warned[0] != want {
		t.Errorf("warnings %q, want %q", warned, want)
	}
	// A version this build does not know, or a forged one, is refused.
	for v, want := range map[string]string{"3": "format version 3 is newer than this build reads (2)", "1": `expected a format version ≥ 2, got "1"`, "x": `expected a format version ≥ 2, got "x"`} {
		meta[versionKey] = v
		meta[checksumKey] = checksum(tensors, meta)
		p := filepath.Join(dir, "v"+v+".ckpt")
		if err := safetensors.WriteFile(p, tensors, meta); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("format_version %s: %v, want %q", v, err, want)
		}
	}
	delete(meta, versionKey)
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
