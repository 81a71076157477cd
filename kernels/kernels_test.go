package kernels

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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

// TestPTXBodyMatchesItsHash: the PTX after the header line is what the
// header's ptx-sha256 says, so a body edited by hand (or left stale under a
// re-stamped header) fails.
func TestPTXBodyMatchesItsHash(t *testing.T) {
	for _, m := range Modules {
		for _, a := range Archs {
			name := fmt.Sprintf("%s.sm%d.ptx", m, a)
			ptx, err := ptxFiles.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			want, body, err := BodyHash(ptx)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			sum := sha256.Sum256(body)
			if got := hex.EncodeToString(sum[:]); got != want {
				t.Errorf("%s: the body hashes to %s, the header says %s: run make kernels", name, got, want)
			}
			// One changed byte of the body is seen.
			bad := bytes.Clone(ptx)
			bad[len(bad)-2] ^= 1
			_, badBody, _ := BodyHash(bad)
			if sum := sha256.Sum256(badBody); hex.EncodeToString(sum[:]) == want {
				t.Errorf("%s: a changed body hashes the same", name)
			}
		}
	}
	if _, _, err := BodyHash([]byte("// jkonet-module: step sha256 " + strings.Repeat("0", 64) + "\n")); err == nil {
		t.Error("a header without ptx-sha256 accepted")
	}
}

// TestPTXRebuildsIdentically: where nvcc is installed (and not -short), the
// sources compile to exactly the committed PTX bodies, from a copy of the
// sources in a temporary directory (so no path leaks into the output).
func TestPTXRebuildsIdentically(t *testing.T) {
	nvcc, err := exec.LookPath("nvcc")
	if err != nil {
		t.Skip("no nvcc: the committed PTX is checked by its hashes only")
	}
	if testing.Short() {
		t.Skip("-short: nvcc takes about 20 s")
	}
	dir := t.TempDir()
	for _, f := range append(append([]string(nil), Headers...), "selftest.cu", "step.cu") {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for _, m := range Modules {
		for _, a := range Archs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := fmt.Sprintf("%s.sm%d.ptx", m, a)
				out := filepath.Join(dir, name+".body")
				cmd := exec.Command(nvcc, "-std=c++17", "-O3", "-ptx", fmt.Sprintf("-arch=compute_%d", a), "-I.", "-o", filepath.Base(out), m+".cu")
				cmd.Dir = dir
				if msg, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("%s: nvcc: %v\n%s", name, err, msg)
					return
				}
				got, err := os.ReadFile(out)
				if err != nil {
					t.Error(err)
					return
				}
				ptx, _ := ptxFiles.ReadFile(name)
				_, body, err := BodyHash(ptx)
				if err != nil {
					t.Error(err)
					return
				}
				if !bytes.Equal(got, body) {
					t.Errorf("%s: nvcc builds other bytes from the sources (run make kernels)", name)
				}
			}()
		}
	}
	wg.Wait()
}

// TestFatbin: the embedded fatbin was built from the current sources (its
// hash line's source hash), is the fatbin its hash line names, and holds
// SASS for every one of SASSArchs and compute_90 PTX for newer GPUs.
func TestFatbin(t *testing.T) {
	fb, header, err := Fatbin()
	if err != nil {
		t.Fatal(err)
	}
	var module, source, fatHash string
	if _, err := fmt.Sscanf(header, "// jkonet-module: %s sha256 %s fatbin-sha256 %s", &module, &source, &fatHash); err != nil {
		t.Fatalf("step.fatbin.hash: %q: %v", header, err)
	}
	ptx, _ := PTX("step", 9, 0)
	if _, want, _ := SourceHash(ptx); module != "step" || source != want {
		t.Errorf("step.fatbin was built from other sources (%s, the PTX's %s): run make kernels", source, want)
	}
	if sum := sha256.Sum256(fb); hex.EncodeToString(sum[:]) != fatHash {
		t.Errorf("step.fatbin hashes to %x, its hash line says %s", sum, fatHash)
	}
	entries, err := FatbinEntries(fb)
	if err != nil {
		t.Fatal(err)
	}
	want := map[FatbinEntry]bool{{PTX: true, Arch: 90}: true}
	for _, a := range SASSArchs {
		want[FatbinEntry{Arch: a}] = true
	}
	got := map[FatbinEntry]bool{}
	for _, e := range entries {
		got[e] = true
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("step.fatbin holds %v, want %v", entries, want)
	}
	// A cut or foreign image is refused, not misread.
	for _, bad := range [][]byte{fb[:len(fb)/2], fb[:20], []byte("not a fatbin at all")} {
		if _, err := FatbinEntries(bad); err == nil {
			t.Errorf("a damaged fatbin of %d bytes was read", len(bad))
		}
	}
}
