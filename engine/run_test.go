package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/engine/collective"
	"github.com/jkonet-gpu/jkonet-gpu/eval/simulate"
	"github.com/jkonet-gpu/jkonet-gpu/models"
	"github.com/jkonet-gpu/jkonet-gpu/models/modelfile"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
	"github.com/jkonet-gpu/jkonet-gpu/models/zoo"
	"github.com/jkonet-gpu/jkonet-gpu/ot/couplings"
)

// mirror is a backend from outside package engine, as an accelerator's
// package would add one: it runs the CPU backend under its own name, so
// what it trains must equal the CPU's bit for bit.
type mirror struct{ engine.Backend }

func (mirror) Name() string { return "mirror" }

// registerMirror adds the mirror backend with its device facts; available
// is its probe's answer. It is removed when the test ends.
func registerMirror(t *testing.T, available error) {
	engine.Register(engine.Registration{
		Name: "mirror", Label: "Mirror", Auto: 5,
		Available: func() (string, error) {
			if available != nil {
				return "", available
			}
			return "mirror device 0", nil
		},
		Precisions:  []string{engine.Float64},
		Collectives: []engine.CollectiveOffer{engine.MPIOffer},
		New: func(net *networks.Net, p *engine.Problem, s engine.Settings) (engine.Backend, error) {
			cpu, _ := engine.Lookup("cpu")
			b, err := cpu.New(net, p, s)
			return mirror{b}, err
		},
	})
	t.Cleanup(func() { engine.Unregister("mirror") })
}

// smallJob is 200 particles of styblinski_tang in 2-D over 3 steps, the
// potential model for 5 epochs.
func smallJob(t *testing.T, device string) engine.Job {
	v, _ := zoo.Get("styblinski_tang")
	res, err := simulate.Run(simulate.Config{Potential: v, Dim: 2, Particles: 200, Steps: 3, DT: 0.01, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	s := engine.DefaultSettings()
	s.Epochs, s.BatchSize = 5, 100
	return engine.Job{Data: snapshot.FromTrajectories(res.X, 2), DataPath: "small.npz", Model: "potential", Settings: s,
		Device: device, Collective: collective.Auto, CouplingOptions: couplings.DefaultOptions(), Notes: &bytes.Buffer{}}
}

func run(t *testing.T, job engine.Job) *engine.Result {
	t.Helper()
	res, err := engine.Run(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestBackendAddedFromOutside: a backend registered by another package is
// taken by --device auto before the CPU, trains through Run without
// anything else knowing its name, and is recorded.
func TestBackendAddedFromOutside(t *testing.T) {
	want := run(t, smallJob(t, "cpu"))
	registerMirror(t, nil)
	job := smallJob(t, "auto")
	got := run(t, job)
	if got.Record.Device != "mirror" || want.Record.Device != "cpu" {
		t.Fatalf("recorded devices %q and %q, want mirror and cpu", got.Record.Device, want.Record.Device)
	}
	if !slices.Equal(got.File.Params, want.File.Params) {
		t.Fatal("the mirror backend trained other parameters than the CPU")
	}
	if notes := job.Notes.(*bytes.Buffer).String(); notes != "device auto: using Mirror on mirror device 0\n" {
		t.Fatalf("notes %q", notes)
	}
	if !got.Writer {
		t.Fatal("one process is not its model's writer")
	}
}

// TestAutoPassesOverAnUnavailableBackend: auto falls back to the CPU and
// says why, in one line.
func TestAutoPassesOverAnUnavailableBackend(t *testing.T) {
	registerMirror(t, errors.New("no mirror attached"))
	job := smallJob(t, "auto")
	if res := run(t, job); res.Record.Device != "cpu" {
		t.Fatalf("trained on %q", res.Record.Device)
	}
	if notes := job.Notes.(*bytes.Buffer).String(); notes != "device auto: using the CPU (Mirror unavailable: no mirror attached)\n" {
		t.Fatalf("notes %q", notes)
	}
	if _, err := engine.Run(context.Background(), smallJob(t, "mirror")); !errors.Is(err, engine.ErrUnavailable) ||
		err.Error() != "--device mirror: unavailable: no mirror attached" {
		t.Fatalf("--device mirror: %v", err)
	}
}

// TestAutoFallsBackToAPrecisionTheBackendRuns: float32 asked of auto on a
// backend that computes in float64 alone trains in float64, with a note.
func TestAutoFallsBackToAPrecisionTheBackendRuns(t *testing.T) {
	registerMirror(t, nil)
	job := smallJob(t, "auto")
	job.Settings.Precision = engine.Float32
	if res := run(t, job); res.Record.Precision != engine.Float64 {
		t.Fatalf("trained in %q", res.Record.Precision)
	}
	if notes := job.Notes.(*bytes.Buffer).String(); !strings.HasSuffix(notes, "; Mirror computes in float64\n") {
		t.Fatalf("notes %q", notes)
	}
	job = smallJob(t, "mirror")
	job.Settings.Precision = engine.Float32
	if _, err := engine.Run(context.Background(), job); err == nil || err.Error() != "--precision float32: Mirror computes in float64 only" {
		t.Fatalf("--device mirror --precision float32: %v", err)
	}
}

// TestCollectiveNotOffered: a collective the backend cannot sum with is
// refused in one line naming the backends that can.
func TestCollectiveNotOffered(t *testing.T) {
	registerMirror(t, nil)
	engine.Register(engine.Registration{Name: "gpu-double", Label: "GPU double", Available: func() (string, error) { return "", nil },
		Collectives: []engine.CollectiveOffer{{Name: collective.NCCL}}})
	t.Cleanup(func() { engine.Unregister("gpu-double") })
	job := smallJob(t, "mirror")
	job.Collective = collective.NCCL
	_, err := engine.Run(context.Background(), job)
	if err == nil || err.Error() != "--collective nccl: NCCL sums GPU buffers; train with --device gpu-double" {
		t.Fatalf("got %v", err)
	}
}

// driftKind is a model family that exists only in this test, solved in
// closed form: V(x) = c·x, c the weighted least-squares solution of the
// JKO residual τc + (y − x) = 0 over the pairs, c = Σ w τ (x − y) / Σ w τ².
const driftKind = "test-drift"

type driftModel []float64

func (m driftModel) Dim() int                          { return len(m) }
func (m driftModel) PotentialAt(float64) models.Energy { return m }
func (m driftModel) Interaction() models.Energy        { return nil }
func (m driftModel) Beta() float64                     { return 0 }
func (m driftModel) Eval(x []float64, d int, val, grad []float64) {
	for i := range len(x) / d {
		for a := range d {
			if val != nil {
				val[i] += m[a] * x[i*d+a]
			}
			if grad != nil {
				grad[i*d+a] = m[a]
			}
		}
	}
}

// fitDrift is the family's Fit.
func fitDrift(p *models.Pairs) ([]float64, error) {
	c, den := make([]float64, p.D), 0.0
	for i, w := range p.W {
		tau := p.Tau[i]
		for a := range p.D {
			c[a] += w * tau * (p.X[i*p.D+a] - p.Y[i*p.D+a])
		}
		den += w * tau * tau
	}
	for a := range c {
		c[a] /= den
	}
	return c, nil
}

func init() {
	models.RegisterFamily(models.Family{
		Name: driftKind, Scheme: models.Explicit, Fit: fitDrift,
		New: func(d int, params []float64) (models.Model, error) {
			if len(params) != d {
				return nil, fmt.Errorf("%s model in d = %d has %d parameters, got %d", driftKind, d, d, len(params))
			}
			return driftModel(slices.Clone(params)), nil
		},
		Layout: func(d int) ([]models.ParamTensor, error) {
			return []models.ParamTensor{{Name: "c", Shape: []int{d}}}, nil
		},
	})
}

// TestFamilyAddedFromOutside: a closed-form family registered by another
// package trains through Run from its Fit alone, on the pairs of the
// job's couplings, and its model file reads back through the table.
func TestFamilyAddedFromOutside(t *testing.T) {
	job := smallJob(t, "cpu")
	job.Model = driftKind
	res := run(t, job)
	cp, _, err := couplings.Compute(job.Data, job.CouplingOptions)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := fitDrift(&models.Pairs{D: cp.D, X: cp.X, Y: cp.Y, W: cp.W, Tau: cp.Tau})
	if res.File.Kind != driftKind || res.Record.Model != driftKind || !slices.Equal(res.File.Params, want) {
		t.Fatalf("trained %s %v, want %s %v", res.File.Kind, res.File.Params, driftKind, want)
	}
	if math.Abs(want[0])+math.Abs(want[1]) == 0 {
		t.Fatal("the fitted drift is 0: the test cannot tell a fit from none")
	}
	path := filepath.Join(t.TempDir(), "drift.safetensors")
	if err := modelfile.Save(path, res.File); err != nil {
		t.Fatal(err)
	}
	f, err := modelfile.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := f.Model()
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := m.(driftModel); !ok || !slices.Equal(got, want) {
		t.Fatalf("read back %#v", m)
	}
}

// TestUsageFromRegistry: --device and --precision describe the registered
// backends, so a backend added by one package shows in the help unasked.
func TestUsageFromRegistry(t *testing.T) {
	registerMirror(t, nil)
	engine.Register(engine.Registration{Name: "twofold", Label: "Twofold", Auto: 3, Precisions: []string{engine.Float32, engine.Float64}})
	t.Cleanup(func() { engine.Unregister("twofold") })
	if got, want := engine.DeviceUsage(), "where to train: auto, cpu, cpu-graph, mirror, twofold (auto: the first that answers of Mirror, Twofold, the CPU)"; got != want {
		t.Errorf("DeviceUsage:\n got %q\nwant %q", got, want)
	}
	if got, want := engine.PrecisionUsage(), "what to compute in; cpu: float64; cpu-graph: float64; mirror: float64; twofold: float32 (default), float64"; got != want {
		t.Errorf("PrecisionUsage:\n got %q\nwant %q", got, want)
	}
}
