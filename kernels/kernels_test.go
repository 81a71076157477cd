package kernels

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
)

// TestPTXMatchesSources: every committed PTX file was built from the current
// sources (run make kernels after editing a .cu or header).
func TestPTXMatchesSources(t *testing.T) {
	for _, m := range Modules {
		h := sha256.New()
		for _, f := range append(append([]string(nil), Headers...), m+".cu") {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			h.Write(src)
		}
		want := hex.EncodeToString(h.Sum(nil))
		for _, a := range Archs {
			ptx, err := ptxFiles.ReadFile(fmt.Sprintf("%s.sm%d.ptx", m, a))
			if err != nil {
				t.Fatalf("module %s: no PTX for compute_%d: %v", m, a, err)
			}
			module, hash, err := SourceHash(ptx)
			if err != nil {
				t.Fatal(err)
			}
			if module != m || hash != want {
				t.Errorf("%s.sm%d.ptx was built from other sources (module %s, hash %s; the sources hash to %s): run make kernels", m, a, module, hash, want)
			}
		}
	}
}

func TestPTXPicksTheNewestArch(t *testing.T) {
	for _, c := range []struct {
		major, minor int
		want         string
	}{{9, 0, "sm_90"}, {10, 0, "sm_90"}, {8, 9, "sm_80"}, {8, 0, "sm_80"}} {
		ptx, err := PTX("step", c.major, c.minor)
		if err != nil {
			t.Fatalf("%d.%d: %v", c.major, c.minor, err)
		}
		if !bytes.Contains(ptx, []byte(".target "+c.want)) {
			t.Errorf("%d.%d: PTX does not target %s", c.major, c.minor, c.want)
		}
	}
	if _, err := PTX("step", 7, 5); err == nil {
		t.Error("compute capability 7.5 accepted")
	}
}
