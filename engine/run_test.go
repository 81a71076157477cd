package engine_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/engine/collective"
	"github.com/jkonet-gpu/jkonet-gpu/eval/simulate"
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
	if _, err := engine.Run(context.Background(), job); err == nil {
		t.Fatal("--device mirror --precision float32 accepted")
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
