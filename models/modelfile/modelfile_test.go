package modelfile

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/safetensors"
	"github.com/jkonet-gpu/jkonet-gpu/internal/fuzzcheck"
	"github.com/jkonet-gpu/jkonet-gpu/internal/membudget"
	"github.com/jkonet-gpu/jkonet-gpu/models/linear"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
)

func TestRoundTripNetAndCheckpoint(t *testing.T) {
	net, err := networks.NewNet("jkonet-star", 3, 7)
	if err != nil {
		t.Fatal(err)
	}
	net.Params[len(net.Params)-1] = -0.25 // β
	f := &File{Kind: "jkonet-star", Dim: 3, Times: []float64{0, 2, 3}, MeanInterval: 1.5, Training: []byte(`{"lr":0.001}`), Params: net.Params,
		M: make([]float64, len(net.Params)), V: make([]float64, len(net.Params)), Steps: 42}
	f.M[3], f.V[5] = 1.5, 2.5
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := Save(path, f); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != f.Kind || got.Dim != 3 || got.MeanInterval != 1.5 || got.Times[1] != 2 || got.Steps != 42 ||
		got.M[3] != 1.5 || got.V[5] != 2.5 || string(got.Training) != `{"lr":0.001}` || got.TimeOrigin() != 0 {
		t.Fatalf("round trip gave %+v", got)
	}
	m, err := got.Model()
	if err != nil {
		t.Fatal(err)
	}
	if m.Beta() != -0.25 {
		t.Fatalf("β = %v", m.Beta())
	}
	// Same energy as the original network at random points.
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float64, 30)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	a, b := make([]float64, 10), make([]float64, 10)
	net.Interaction().Eval(x, 3, a, nil)
	m.Interaction().Eval(x, 3, b, nil)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("U differs after the round trip: %v vs %v", a[i], b[i])
		}
	}
	// Tensors are stored by name, readable without this package.
	tensors, meta, err := safetensors.ReadFile(path)
	if err != nil || meta["kind"] != "jkonet-star" || len(tensors["V.W1"].Data) != 3*networks.HiddenWidth || len(tensors["beta"].Data) != 1 {
		t.Fatalf("raw file: %v, meta %v", err, meta)
	}
}

func TestRoundTripLinear(t *testing.T) {
	theta := make([]float64, linear.FeatureCount(2))
	for i := range theta {
		theta[i] = float64(i) / 100
	}
	path := filepath.Join(t.TempDir(), "lin.safetensors")
	if err := Save(path, &File{Kind: linear.PotentialKind, Dim: 2, Times: []float64{0, 1}, MeanInterval: 1, Params: theta}); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range theta {
		if got.Params[i] != theta[i] {
			t.Fatalf("θ[%d] = %v, want %v", i, got.Params[i], theta[i])
		}
	}
	if got.M != nil {
		t.Fatal("a model file read as a checkpoint")
	}
}

func TestLoadRejects(t *testing.T) {
	dir := t.TempDir()
	net, _ := networks.NewNet("potential", 2, 1)
	good := func() (map[string]safetensors.Tensor, map[string]string) {
		tensors := map[string]safetensors.Tensor{}
		for _, l := range net.Layout() {
			tensors[l.Name] = safetensors.Tensor{Shape: l.Shape, Data: net.Params[l.Offset : l.Offset+l.Size()]}
		}
		return tensors, map[string]string{"format": Format, "kind": "potential", "dim": "2", "times": "[0,1]", "mean_interval": "1", "parameters": "4417"}
	}
	cases := []struct {
		want string
		edit func(map[string]safetensors.Tensor, map[string]string)
	}{
		{`metadata "format"`, func(_ map[string]safetensors.Tensor, m map[string]string) { delete(m, "format") }},
		{`metadata "kind": unknown model "magic"`, func(_ map[string]safetensors.Tensor, m map[string]string) { m["kind"] = "magic" }},
		{`metadata "dim"`, func(_ map[string]safetensors.Tensor, m map[string]string) { m["dim"] = "zero" }},
		{`metadata "times"`, func(_ map[string]safetensors.Tensor, m map[string]string) { m["times"] = "[0]" }},
		{`tensor "V.W2"`, func(ts map[string]safetensors.Tensor, _ map[string]string) { delete(ts, "V.W2") }},
		{`metadata "parameters": a potential model in d = 2 has 4417 parameters, got 10`, func(_ map[string]safetensors.Tensor, m map[string]string) { m["parameters"] = "10" }},
	}
	for i, tc := range cases {
		tensors, meta := good()
		tc.edit(tensors, meta)
		path := filepath.Join(dir, string(rune('a'+i))+".safetensors")
		if err := safetensors.WriteFile(path, tensors, meta); err != nil {
			t.Fatal(err)
		}
		f, err := Load(path)
		if err == nil {
			_, err = f.Model()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}

// TestLoadRefusesMalformedFiles covers what the fuzz target found or the
// review of fromTensors did; before the fixes each of these files loaded or
// (parameters, dim) allocated what its metadata claimed before any check.
func TestLoadRefusesMalformedFiles(t *testing.T) {
	dir := t.TempDir()
	net, _ := networks.NewNet("potential", 2, 1)
	good := func(ckpt bool) (map[string]safetensors.Tensor, map[string]string) {
		tensors := map[string]safetensors.Tensor{}
		for _, l := range net.Layout() {
			tensors[l.Name] = safetensors.Tensor{Shape: l.Shape, Data: slices.Clone(net.Params[l.Offset : l.Offset+l.Size()])}
		}
		meta := map[string]string{"format": Format, "kind": "potential", "dim": "2", "times": "[0,1]", "mean_interval": "1", "parameters": "4417"}
		if ckpt {
			n := len(net.Params)
			tensors["optimizer.m"] = safetensors.Tensor{Shape: []int{n}, Data: make([]float64, n)}
			tensors["optimizer.v"] = safetensors.Tensor{Shape: []int{n}, Data: make([]float64, n)}
			meta["steps"] = "5"
		}
		return tensors, meta
	}
	type edit = func(map[string]safetensors.Tensor, map[string]string)
	cases := []struct {
		name, want string
		ckpt       bool
		edit       edit
	}{
		{"huge parameters", `metadata "parameters": a potential model in d = 2 has 4417 parameters, got 10000000000`, false,
			func(_ map[string]safetensors.Tensor, m map[string]string) { m["parameters"] = "10000000000" }},
		{"huge linear parameters", `metadata "parameters": a linear model in d = 2 has 249 parameters, got 10000000000`, false,
			func(_ map[string]safetensors.Tensor, m map[string]string) {
				m["kind"], m["parameters"] = "linear", "10000000000"
			}},
		{"huge dim", `metadata "dim": a potential model in d = 100000000 has more parameters than the 4417 values the file holds`, false,
			func(_ map[string]safetensors.Tensor, m map[string]string) { m["dim"] = "100000000" }},
		{"too many parameters", `metadata "parameters": a potential model in d = 2 has 4417 parameters, got 4418`, false,
			func(ts map[string]safetensors.Tensor, m map[string]string) {
				m["parameters"] = "4418"
				ts["extra"] = safetensors.Tensor{Shape: []int{1}, Data: []float64{0}}
			}},
		{"infinite interval", `metadata "mean_interval": expected a positive finite number, got "+Inf"`, false,
			func(_ map[string]safetensors.Tensor, m map[string]string) { m["mean_interval"] = "+Inf" }},
		{"times", `metadata "times": expected increasing times, got 1 after 2`, false,
			func(_ map[string]safetensors.Tensor, m map[string]string) { m["times"] = "[0,2,1]" }},
		{"training", `metadata "training": expected the JSON record of the training settings`, false,
			func(_ map[string]safetensors.Tensor, m map[string]string) { m["training"] = `{"lr":` }},
		{"nan parameter", `tensor "V.W1": entry 3 is NaN, expected finite values`, false,
			func(ts map[string]safetensors.Tensor, _ map[string]string) { ts["V.W1"].Data[3] = math.NaN() }},
		{"infinite moment", `tensor "optimizer.v": entry 0 is +Inf, expected finite values`, true,
			func(ts map[string]safetensors.Tensor, _ map[string]string) { ts["optimizer.v"].Data[0] = math.Inf(1) }},
	}
	for i, c := range cases {
		tensors, meta := good(c.ckpt)
		c.edit(tensors, meta)
		path := filepath.Join(dir, fmt.Sprintf("%d.safetensors", i))
		if err := safetensors.WriteFile(path, tensors, meta); err != nil {
			t.Fatal(err)
		}
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err = Load(path)
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > fuzzcheck.Limit(info.Size(), fuzzcheck.PerByte) {
			t.Errorf("%s: loading %d bytes allocated %d", c.name, info.Size(), got)
		}
		if err == nil || !strings.HasPrefix(err.Error(), path+": "+c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	// The unedited files load.
	for _, ckpt := range []bool{false, true} {
		tensors, meta := good(ckpt)
		path := filepath.Join(dir, "good.safetensors")
		if err := safetensors.WriteFile(path, tensors, meta); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path); err != nil {
			t.Errorf("checkpoint %v: %v", ckpt, err)
		}
	}
}

// TestLoadWithinBudget (issue 19): a model file's tensors are counted
// against the memory budget (--max-memory) before they are read, so Load
// refuses a file the budget cannot hold in one line naming the file and
// the tensor, and reads it under a budget that can.
func TestLoadWithinBudget(t *testing.T) {
	t.Cleanup(func() { membudget.Set(0) })
	net, err := networks.NewNet("jkonet-star", 3, 7)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := Save(path, &File{Kind: "jkonet-star", Dim: 3, Times: []float64{0, 1}, MeanInterval: 1, Params: net.Params}); err != nil {
		t.Fatal(err)
	}
	membudget.Set(int64(8 * len(net.Params)))
	_, err = Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+`: tensor "`) || !strings.Contains(err.Error(), "of memory, more than the budget of") || strings.Contains(err.Error(), "\n") {
		t.Errorf("under a budget of the parameters alone: %v", err)
	}
	membudget.Set(int64(64 * len(net.Params)))
	if _, err := Load(path); err != nil {
		t.Errorf("under a budget of 64 bytes a parameter: %v", err)
	}
}
