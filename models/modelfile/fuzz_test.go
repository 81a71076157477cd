package modelfile

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/internal/fuzzcheck"
	"github.com/jkonet-gpu/jkonet-gpu/models/linear"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
)

// FuzzLoad runs its seeds (f.Add below: a model file and a checkpoint of
// every kind, as Save writes them; testdata/fuzz/FuzzLoad: small linear
// files and hand-made malformed ones) under plain go test; scripts/fuzz.sh
// fuzzes it. Every file must load or give an error, never a panic, and
//
//   - an error is one line that starts with the path and names the
//     metadata key or tensor at fault (or the safetensors layer's fault);
//   - Load allocates at most fuzzcheck.Limit(n, fuzzcheck.PerByte) bytes for a file of n bytes, so a
//     declared dimension or parameter count believed before it is checked
//     against the values present shows up as an allocation of its size;
//   - a file loaded is consistent (increasing times, a positive finite mean
//     interval, finite parameters as many as the model has), rebuilds its
//     model, and saves and loads back the same.

// seedFile is a model file (or, with a non-zero steps, a checkpoint) of the
// given kind in dimension d, with parameters 0.01·i.
func seedFile(f *testing.F, dir, kind string, d int, steps uint64) []byte {
	var n int
	if kind == linear.Kind || kind == linear.PotentialKind {
		n = linear.FeatureCount(d)
		if kind == linear.Kind {
			n = 2*n + 1
		}
	} else {
		net, err := networks.NewNet(kind, d, 1)
		if err != nil {
			f.Fatal(err)
		}
		n = len(net.Params)
	}
	file := &File{Kind: kind, Dim: d, Times: []float64{0, 0.5, 2}, MeanInterval: 1, Params: make([]float64, n),
		Training: []byte(`{"model":"` + kind + `","epochs":1}`)}
	for i := range file.Params {
		file.Params[i] = 0.01 * float64(i)
	}
	if steps > 0 {
		file.M, file.V, file.Steps = make([]float64, n), make([]float64, n), steps
		file.V[0] = 1
	}
	path := filepath.Join(dir, "seed.safetensors")
	if err := Save(path, file); err != nil {
		f.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return data
}

// sameFloats compares bit for bit.
func sameFloats(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) })
}

func FuzzLoad(f *testing.F) {
	dir := fuzzcheck.Dir(f)
	for _, kind := range append(networks.Kinds(), linear.Kind, linear.PotentialKind) {
		f.Add(seedFile(f, dir, kind, 1, 0))
	}
	f.Add(seedFile(f, dir, "potential", 2, 7))
	f.Add(seedFile(f, dir, linear.Kind, 2, 3))
	path := filepath.Join(dir, "model.safetensors")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var file *File
		var err error
		fuzzcheck.Alloc(t, int64(len(data)), fuzzcheck.PerByte, func() { file, err = Load(path) })
		if err != nil {
			msg := err.Error()
			if strings.ContainsAny(msg, "\n\r") {
				t.Errorf("error on several lines: %q", msg)
			}
			if !strings.HasPrefix(msg, path+": ") {
				t.Errorf("error %q does not start with the path", msg)
			}
			return
		}
		if file.Dim < 1 || len(file.Times) < 2 || !(file.MeanInterval > 0) || math.IsInf(file.MeanInterval, 0) {
			t.Fatalf("inconsistent file: d = %d, times %v, mean interval %v", file.Dim, file.Times, file.MeanInterval)
		}
		for i := 1; i < len(file.Times); i++ {
			if !(file.Times[i] > file.Times[i-1]) {
				t.Fatalf("times %v not increasing", file.Times)
			}
		}
		for _, vs := range [][]float64{file.Params, file.M, file.V} {
			for _, v := range vs {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("loaded a non-finite value %v", v)
				}
			}
		}
		if (file.M == nil) != (file.V == nil) || (file.M != nil && (len(file.M) != len(file.Params) || len(file.V) != len(file.Params))) {
			t.Fatalf("optimiser state of %d and %d values for %d parameters", len(file.M), len(file.V), len(file.Params))
		}
		m, err := file.Model()
		if err != nil {
			t.Fatalf("a file that loads does not rebuild its model: %v", err)
		}
		if m.Dim() != file.Dim {
			t.Fatalf("model of d = %d from a file of d = %d", m.Dim(), file.Dim)
		}
		saved := filepath.Join(dir, "saved.safetensors")
		if err := Save(saved, file); err != nil {
			t.Fatalf("saving what was loaded: %v", err)
		}
		back, err := Load(saved)
		if err != nil {
			t.Fatalf("loading what was saved: %v", err)
		}
		if back.Kind != file.Kind || back.Dim != file.Dim || !sameFloats(back.Times, file.Times) ||
			math.Float64bits(back.MeanInterval) != math.Float64bits(file.MeanInterval) || !bytes.Equal(back.Training, file.Training) ||
			!sameFloats(back.Params, file.Params) || !sameFloats(back.M, file.M) || !sameFloats(back.V, file.V) ||
			back.Steps != file.Steps || (back.M == nil) != (file.M == nil) {
			t.Errorf("saved and loaded %+v, want %+v", back, file)
		}
	})
}
