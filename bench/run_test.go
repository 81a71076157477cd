package bench

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
)

// testAccel is a test-only accelerated backend: the CPU backend in float64
// under another name, ranked above the CPU for --device auto, whose model
// of a step of B pairs is 3B FLOPs and a roofline of B ns, on a device of
// 100 FLOP/s. testAccelMissing, when set, is why it is unavailable.
const testAccel = "test-accel"

var testAccelMissing error

// testAccelGraphEnv records JKONET_CUDA_GRAPH as each test-accel backend
// was built; testAccelRefuses is a precision it refuses to build.
var (
	testAccelGraphEnv []string
	testAccelRefuses  string
)

type accelBackend struct{ engine.Backend }

func (accelBackend) StepRoofline(lo, hi int) (flops, seconds float64) {
	return 3 * float64(hi-lo), float64(hi-lo) / 1e9
}
func (accelBackend) PeakFLOPS() float64 { return 100 }

func init() {
	engine.Register(engine.Registration{
		Name: testAccel, Label: "TestAccel", Auto: 5,
		Available: func() (string, error) {
			if testAccelMissing != nil {
				return "", testAccelMissing
			}
			return "fake device (test)", nil
		},
		New: func(net *networks.Net, p *engine.Problem, s engine.Settings) (engine.Backend, error) {
			cpu, _ := engine.Lookup(cpuName)
			testAccelGraphEnv = append(testAccelGraphEnv, os.Getenv(GraphEnv))
			if s.Precision == testAccelRefuses {
				return nil, errors.New("no room for " + s.Precision)
			}
			s.Precision = engine.Float64
			b, err := cpu.New(net, p, s)
			return accelBackend{b}, err
		},
	})
}

func gpuOptions(device, jsonPath string) Options {
	return Options{What: []string{"gpu"}, Sizes: []int{100}, Dims: []int{2}, Targets: []int{10}, Repeats: 1, Device: device, JSON: jsonPath}
}

// TestRunGPUTakesTheRegisteredAccelerator: bench --what gpu builds its
// accelerated side from the registry (what --device auto prefers to the
// CPU), names it in the table and the JSON, times the process's first step
// on it in parts that add up to the whole, and steps of each variant and
// precision against its model.
func TestRunGPUTakesTheRegisteredAccelerator(t *testing.T) {
	testAccelMissing = nil
	t.Setenv(GraphEnv, "7")
	testAccelGraphEnv = nil
	path := filepath.Join(t.TempDir(), "gpu.json")
	var out strings.Builder
	if err := Run(&out, gpuOptions("auto", path)); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"CPU vs GPU: JKOnet* training epochs, jkonet-gpu cpu backend vs test-accel backend\n",
		"\n  GPU: fake device (test)\n",
		"P100 d2 U exact over 10", "gpu/cpu", "time to first step (P8000 d2 V only, float32): ",
		"until the backend", "upload", "first step", "steps against the roofline", "jkonet-star float64 d2 batch 100 U exact over 10",
	} {
		if !strings.Contains(text, want) {
			t.Fatalf("output lacks %q:\n%s", want, text)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep GPUReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	// The variants × 2 precisions; one batch each, of all 100 pairs.
	if rep.Device != "fake device (test)" || rep.NoGPU != "" || len(rep.Epochs) != 2 || len(rep.Roofline) != 2*len(rooflineKinds) {
		t.Fatalf("report %+v", rep)
	}
	fs := rep.FirstStep
	sum := 0.0
	for _, p := range fs.Parts {
		sum += p.Seconds
		if p.Seconds < 0 {
			t.Errorf("first step part %+v", p)
		}
	}
	if len(fs.Parts) != 3 || math.Abs(sum-fs.Total) > 1e-9 || fs.Total <= 0 || fs.Image != "" {
		t.Errorf("first step %+v: parts add up to %v", fs, sum)
	}
	for _, e := range rep.Epochs {
		if e.CPU == nil || e.CPU.Device != "cpu" || e.GPU == nil || e.GPU.Device != testAccel || !(e.Ratio > 0) {
			t.Fatalf("epoch %+v", e)
		}
	}
	// The README rows: a header, a rule and rows of as many cells, the
	// figures as measured.
	md := rep.Markdown()
	if !strings.Contains(text, "README \"GPU\" rows:\n"+strings.Join(md, "\n")+"\n") || len(md) != 9+len(rep.Roofline)+len(rep.Graph) {
		t.Fatalf("README rows %q in\n%s", md, text)
	}
	for _, table := range [][]string{md[:3], md[4 : 6+len(rep.Roofline)], md[7+len(rep.Roofline):]} {
		for _, line := range table {
			if strings.Count(line, "|") != strings.Count(table[0], "|") {
				t.Errorf("%q has other cells than its header %q", line, table[0])
			}
		}
	}
	last := md[5+len(rep.Roofline)]
	if want := "| fake device (test), " + rep.Date + " | jkonet-star | float64 | 2 | 100 | 10 | "; !strings.HasPrefix(last, want) || !strings.Contains(last, " | 300 | ") {
		t.Errorf("the roofline's last row %q, want %q… with 300 FLOP", last, want)
	}
	// The launch paths: potential and jkonet-star, each built with
	// JKONET_CUDA_GRAPH unset, then 0, which is restored after.
	if len(rep.Graph) != 2 || rep.Graph[0].Case.Kind != "potential" || rep.Graph[1].Case.Kind != "jkonet-star" ||
		!slices.Equal(testAccelGraphEnv[len(testAccelGraphEnv)-4:], []string{"", "0", "", "0"}) || os.Getenv(GraphEnv) != "7" {
		t.Fatalf("launch paths %+v, built with %s %q", rep.Graph, GraphEnv, testAccelGraphEnv)
	}
	for _, g := range rep.Graph {
		if len(g.Paths) != 2 || g.Paths[0].Env != "" || g.Paths[1].Env != "0" || !(g.Paths[0].EpochSeconds > 0) || !(g.Paths[1].EpochSeconds > 0) || g.Paths[0].Counted {
			t.Errorf("launch paths %+v", g)
		}
	}
	for _, r := range rep.Roofline {
		if r.Case.Batch != 100 || r.FLOPs != 300 || r.Peak != 100 || !(r.StepSeconds > 0) ||
			r.FLOPS != r.FLOPs/r.StepSeconds || r.PeakFraction != r.FLOPS/100 || r.RooflineSeconds != 100/1e9 || r.RooflineFraction != r.RooflineSeconds/r.StepSeconds {
			t.Errorf("roofline %#v", r)
		}
	}
}

// TestRunGPURefusedPrecision: a precision the device refuses is a row of
// the roofline table that says why, in the table and the README rows, and
// the other rows are measured.
func TestRunGPURefusedPrecision(t *testing.T) {
	testAccelMissing, testAccelRefuses = nil, engine.Float64
	defer func() { testAccelRefuses = "" }()
	o := gpuOptions("auto", "")
	o.Sizes = []int{40}
	var out strings.Builder
	if err := Run(&out, o); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\n    potential float32 d2 batch 40 ", "\n    potential float64 d2 batch 40                            refused: no room for float64\n",
		"| potential | float64 | 2 | 40 | — | refused: no room for float64 | | | | | |\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestRunGPUWithoutAccelerator: auto without an available accelerator runs
// the CPU half and says why; --device cpu the same; the accelerator named
// but unavailable, and an unknown device, are errors.
func TestRunGPUWithoutAccelerator(t *testing.T) {
	testAccelMissing = errors.New("no fake device here")
	defer func() { testAccelMissing = nil }()
	for device, want := range map[string]string{"auto": "no GPU (no fake device here): the CPU half only", "cpu": "no GPU (--device cpu): the CPU half only"} {
		var out strings.Builder
		if err := Run(&out, gpuOptions(device, "")); err != nil {
			t.Fatalf("--device %s: %v", device, err)
		}
		if !strings.Contains(out.String(), "\n  "+want+"\n") || strings.Contains(out.String(), "gpu/cpu") || strings.Contains(out.String(), "roofline") || strings.Contains(out.String(), "first step") {
			t.Fatalf("--device %s:\n%s", device, out.String())
		}
	}
	for device, want := range map[string]string{
		testAccel: "--device test-accel: no fake device here",
		"bogus":   `--device: bench --what gpu takes auto, test-accel or cpu, got "bogus"`,
	} {
		var out strings.Builder
		if err := Run(&out, gpuOptions(device, "")); err == nil || err.Error() != want || out.Len() != 0 {
			t.Fatalf("--device %s: %v (output %q), want %s", device, err, out.String(), want)
		}
	}
}

// TestRunRefusesBeforeRunning: bad options are refused with the flag's
// name before anything runs or prints.
func TestRunRefusesBeforeRunning(t *testing.T) {
	base := Options{What: []string{"ot", "gpu"}, Repeats: 1, Device: "auto"}
	for want, edit := range map[string]func(*Options){
		`--what: unknown comparison "peers" (expected ot, ot-scale, gmm, train, gpu)`: func(o *Options) { o.What = []string{"ot", "peers"} },
		`--shapes: unknown shape "square" (expected equal, unequal, coprime)`:         func(o *Options) { o.Shapes = []string{"equal", "square"} },
		"--block: expected a block size ≥ 0, got -1":                                  func(o *Options) { o.Block = -1 },
		"--repeats: expected at least 1, got 0":                                       func(o *Options) { o.Repeats = 0 },
		"--sizes: expected point counts ≥ 2, got 1":                                   func(o *Options) { o.Sizes = []int{40, 1} },
		"--dims: expected positive values, got 0":                                     func(o *Options) { o.Dims = []int{0} },
		"--targets: expected positive values, got -3":                                 func(o *Options) { o.Targets = []int{-3} },
		"--seconds: expected a budget from 0 to 3600 s, got -1":                       func(o *Options) { o.Seconds = -1 },
	} {
		o := base
		edit(&o)
		var out strings.Builder
		if err := Run(&out, o); err == nil || err.Error() != want || out.Len() != 0 {
			t.Errorf("%v (output %q), want %s", err, out.String(), want)
		}
	}
}
