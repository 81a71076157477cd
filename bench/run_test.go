package bench

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
)

// testAccel is a test-only accelerated backend: the CPU backend in float64
// under another name, ranked above the CPU for --device auto, counting one
// FLOP a step on a device of 100 FLOP/s. testAccelMissing, when set, is why
// it is unavailable.
const testAccel = "test-accel"

var testAccelMissing error

type accelBackend struct{ engine.Backend }

func (accelBackend) TakeFLOPs() float64 { return 1 }
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
// CPU), names it in the table and the JSON, and times its fused step.
func TestRunGPUTakesTheRegisteredAccelerator(t *testing.T) {
	testAccelMissing = nil
	path := filepath.Join(t.TempDir(), "gpu.json")
	var out strings.Builder
	if err := Run(&out, gpuOptions("auto", path)); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"CPU vs GPU: JKOnet* training epochs, jkonet-gpu cpu backend vs test-accel backend\n",
		"\n  GPU: fake device (test)\n",
		"P100 d2 U exact over 10", "gpu/cpu", "fused step at large batch", "% of FP32 peak 100",
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
	if rep.Device != "fake device (test)" || rep.NoGPU != "" || len(rep.Epochs) != 2 || len(rep.Fused) != 2 {
		t.Fatalf("report %+v", rep)
	}
	for _, e := range rep.Epochs {
		if e.CPU == nil || e.CPU.Device != "cpu" || e.GPU == nil || e.GPU.Device != testAccel || !(e.Ratio > 0) {
			t.Fatalf("epoch %+v", e)
		}
	}
	if f := rep.Fused[0]; f.FLOPs != 1 || f.Peak != 100 || !(f.Fraction > 0) {
		t.Fatalf("fused step %+v", f)
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
		if !strings.Contains(out.String(), "\n  "+want+"\n") || strings.Contains(out.String(), "gpu/cpu") || strings.Contains(out.String(), "fused step") {
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
