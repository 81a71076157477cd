package modelfile

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/safetensors"
	"github.com/jkonet-gpu/jkonet-gpu/models"
)

// shiftKind is a model family that exists only in this test: V(x) = c·x
// with c a d-vector, no interaction, no β. Save, Load and File.Model read
// it from the family table; nothing outside this file knows it.
const shiftKind = "test-shift"

func init() {
	models.RegisterFamily(models.Family{
		Name:   shiftKind,
		Scheme: models.Explicit,
		New: func(d int, params []float64) (models.Model, error) {
			if len(params) != d {
				return nil, fmt.Errorf("%s model in d = %d has %d parameters, got %d", shiftKind, d, d, len(params))
			}
			return shiftModel(slices.Clone(params)), nil
		},
		Layout: func(d int) ([]models.ParamTensor, error) {
			return []models.ParamTensor{{Name: "c", Shape: []int{d}}}, nil
		},
		FileMeta: map[string]string{"energy": "V(x) = c·x"},
	})
}

// shiftModel is V(x) = c·x in dimension len(c).
type shiftModel []float64

func (m shiftModel) Dim() int                          { return len(m) }
func (m shiftModel) PotentialAt(float64) models.Energy { return m }
func (m shiftModel) Interaction() models.Energy        { return nil }
func (m shiftModel) Beta() float64                     { return 0 }
func (m shiftModel) Eval(x []float64, d int, val, grad []float64) {
	for i := 0; i < len(x)/d; i++ {
		var v float64
		for a := range d {
			v += m[a] * x[i*d+a]
			if grad != nil {
				grad[i*d+a] = m[a]
			}
		}
		if val != nil {
			val[i] = v
		}
	}
}

// TestFamilyFromTheTable: a family registered by a test is saved under its
// own tensor names and metadata, loaded back bit for bit, and rebuilt into
// a model that evaluates to the exact values; a file whose parameter count
// does not match the family's layout is refused.
func TestFamilyFromTheTable(t *testing.T) {
	if !slices.Contains(models.FamilyNames(), shiftKind) {
		t.Fatalf("FamilyNames() = %v, without %q", models.FamilyNames(), shiftKind)
	}
	path := filepath.Join(t.TempDir(), "shift.safetensors")
	f := &File{Kind: shiftKind, Dim: 3, Times: []float64{0, 1}, MeanInterval: 1, Params: []float64{0.5, -2, 0.125}}
	if err := Save(path, f); err != nil {
		t.Fatal(err)
	}
	tensors, meta, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tensors["c"].Data, f.Params) || meta["energy"] != "V(x) = c·x" || meta["kind"] != shiftKind {
		t.Fatalf("raw file: tensors %v, meta %v", tensors, meta)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := got.Model()
	if err != nil {
		t.Fatal(err)
	}
	val, grad := make([]float64, 2), make([]float64, 6)
	m.PotentialAt(0).Eval([]float64{1, 1, 1, 2, 0, -8}, 3, val, grad)
	if !slices.Equal(val, []float64{-1.375, 0}) || !slices.Equal(grad, []float64{0.5, -2, 0.125, 0.5, -2, 0.125}) || m.Dim() != 3 {
		t.Fatalf("V = %v, ∇V = %v, d = %d; want [-1.375 0], c twice, 3", val, grad, m.Dim())
	}

	meta["parameters"] = "4"
	delete(meta, checksumKey) // a file of version 1 without one is read unchecked
	delete(meta, versionKey)
	bad := filepath.Join(t.TempDir(), "bad.safetensors")
	if err := safetensors.WriteFile(bad, tensors, meta); err != nil {
		t.Fatal(err)
	}
	want := bad + `: metadata "parameters": a test-shift model in d = 3 has 3 parameters, got 4`
	if _, err := Load(bad); err == nil || err.Error() != want {
		t.Fatalf("loading a 4-parameter shift model: %v, want %q", err, want)
	}
}

// TestUnknownKind: a kind no family registered is named with the kinds
// that exist, whether saved or loaded.
func TestUnknownKind(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.safetensors")
	err := Save(path, &File{Kind: "magic", Dim: 1, Times: []float64{0, 1}, MeanInterval: 1, Params: []float64{1}})
	want := path + `: unknown model "magic" (expected one of: ` + strings.Join(models.FamilyNames(), ", ") + ")"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}
