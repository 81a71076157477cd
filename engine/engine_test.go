package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
	"github.com/jkonet-gpu/jkonet-gpu/ot/couplings"
)

// TestAdamStep checks one update by hand: after the first step m̂ = g and
// v̂ = g², so every unclipped parameter moves by −lr·g/(|g| + ε) ≈ −lr·sign(g);
// a group whose gradient norm exceeds the clip is scaled to norm clip first,
// which does not change the first step's direction; a frozen group stays.
func TestAdamStep(t *testing.T) {
	s := Settings{LR: 0.1, Clip: 1}
	groups := []ParamGroup{{Name: "V", Lo: 0, Hi: 2}, {Name: "U", Lo: 2, Hi: 3}, {Name: "beta", Lo: 3, Hi: 4, Frozen: true}}
	a := newAdam(s, groups, 4)
	params := []float64{1, 1, 1, 1}
	g := []float64{3, -4, 0.5, 7} // ‖g_V‖ = 5 > 1: clipped to (0.6, −0.8)
	a.update(params, g)
	want := []float64{1 - 0.1*0.6/(0.6+1e-8), 1 + 0.1*0.8/(0.8+1e-8), 1 - 0.1*0.5/(0.5+1e-8), 1}
	for i := range want {
		if math.Abs(params[i]-want[i]) > 1e-15 {
			t.Fatalf("params %v, want %v", params, want)
		}
	}
	if math.Abs(g[0]-0.6) > 1e-15 || math.Abs(g[1]+0.8) > 1e-15 {
		t.Fatalf("V gradient not clipped to norm 1: %v", g[:2])
	}
	// Second step with the same gradient: m = g(1−β₁²)... both bias-corrected
	// moments are g and g² again, so the move repeats.
	before := params[2]
	a.update(params, []float64{0, 0, 0.5, 0})
	if math.Abs((before-params[2])-0.1*0.5/(0.5+1e-8)) > 1e-12 {
		t.Fatalf("second step moved U by %v", before-params[2])
	}
}

// quadraticProblem has pairs (x, y) with x = y + τ∇V(y) for
// V(y) = ½ Σ_a c_a y_a², c = (0.2, 0.4), so that r = τ∇V(y) + (y − x) = 0 at
// the truth.
func quadraticProblem(n int) *Problem {
	rng := rand.New(rand.NewPCG(9, 9))
	c := &couplings.Couplings{D: 2, Times: []float64{0, 1}}
	pop := make([]float64, 0, 2*n)
	for i := 0; i < n; i++ {
		y := []float64{-2 + 4*rng.Float64(), -2 + 4*rng.Float64()}
		c.Y = append(c.Y, y...)
		c.X = append(c.X, y[0]+0.2*y[0], y[1]+0.4*y[1])
		c.W = append(c.W, 1/float64(n))
		c.K = append(c.K, 0)
		c.Tau = append(c.Tau, 1)
		c.Score = append(c.Score, 0, 0)
		pop = append(pop, y...)
	}
	return &Problem{D: 2, Pairs: c, Populations: [][]float64{c.X, pop}, MeanInterval: 1}
}

func newTrainer(t *testing.T, kind string, p *Problem, s Settings) (*networks.Net, Backend) {
	t.Helper()
	net, err := networks.NewNet(kind, p.D, s.Seed)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newCPU(net, p, s)
	if err != nil {
		t.Fatal(err)
	}
	return net, b
}

// TestRecoversQuadraticPotential: the learned ∇V matches the true gradient on
// the training domain to 10% of its typical size.
func TestRecoversQuadraticPotential(t *testing.T) {
	p := quadraticProblem(500)
	s := DefaultSettings()
	s.Epochs, s.BatchSize, s.LR = 300, 100, 3e-3
	net, b := newTrainer(t, "potential", p, s)
	if err := Train(context.Background(), b, p, s, Observer{}); err != nil {
		t.Fatal(err)
	}
	grad := make([]float64, 2)
	var errSum, normSum float64
	for _, y := range [][]float64{{1, 1}, {-1.5, 0.5}, {0.5, -1.5}, {-1, -1}, {1.5, 0}} {
		net.Potential().Eval(y, 2, nil, grad)
		ex, ey := grad[0]-0.2*y[0], grad[1]-0.4*y[1]
		errSum += math.Hypot(ex, ey)
		normSum += math.Hypot(0.2*y[0], 0.4*y[1])
	}
	if errSum > 0.1*normSum {
		t.Fatalf("learned gradient error %v, 10%% of the true gradient size is %v", errSum, 0.1*normSum)
	}
}

// TestResumeIsBitForBit: stopping after any step and resuming from State
// gives the same parameters as an uninterrupted run, with interaction
// samples in play.
func TestResumeIsBitForBit(t *testing.T) {
	p := quadraticProblem(90)
	s := DefaultSettings()
	s.Epochs, s.BatchSize, s.Samples, s.Seed = 4, 40, 4, 3 // 3 steps per epoch, the last one short
	straight, b1 := newTrainer(t, "jkonet-star", p, s)
	if err := Train(context.Background(), b1, p, s, Observer{}); err != nil {
		t.Fatal(err)
	}
	_, b2 := newTrainer(t, "jkonet-star", p, s)
	// Interrupt in the middle of epoch 2 (after step 5 of 12).
	ctx, cancel := context.WithCancel(context.Background())
	steps := 0
	stepper := &countingBackend{Backend: b2, after: 5, onLimit: cancel, steps: &steps}
	if err := Train(ctx, stepper, p, s, Observer{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run returned %v", err)
	}
	state, err := b2.State()
	if err != nil {
		t.Fatal(err)
	}
	if state.Steps != 5 {
		t.Fatalf("state after interruption has %d steps, want 5", state.Steps)
	}
	resumed, b3 := newTrainer(t, "jkonet-star", p, s)
	if err := b3.SetState(state); err != nil {
		t.Fatal(err)
	}
	if err := Train(context.Background(), b3, p, s, Observer{}); err != nil {
		t.Fatal(err)
	}
	for i := range straight.Params {
		if straight.Params[i] != resumed.Params[i] {
			t.Fatalf("parameter %d: %v straight, %v resumed", i, straight.Params[i], resumed.Params[i])
		}
	}
}

// countingBackend cancels the run once it has taken `after` steps.
type countingBackend struct {
	Backend
	after   int
	onLimit func()
	steps   *int
}

func (c *countingBackend) Step(lo, hi int, step uint64) error {
	err := c.Backend.Step(lo, hi, step)
	if *c.steps++; *c.steps == c.after {
		c.onLimit()
	}
	return err
}

func TestNonFiniteLossStops(t *testing.T) {
	p := quadraticProblem(20)
	for i := range p.Pairs.X {
		p.Pairs.X[i] *= 1e200 // ‖y − x‖² overflows
	}
	s := DefaultSettings()
	s.Epochs = 3
	_, b := newTrainer(t, "potential", p, s)
	err := Train(context.Background(), b, p, s, Observer{})
	var nf *NonFiniteError
	if !errors.As(err, &nf) || nf.Epoch != 1 || nf.Step != 0 {
		t.Fatalf("got %v, want a NonFiniteError at epoch 1, step 0", err)
	}
	if err := CheckFinite(networks.Loss{Value: math.NaN(), Potential: 1, Interaction: math.Inf(1)}, 3); err == nil ||
		!strings.Contains(err.Error(), "interaction term") || !strings.Contains(err.Error(), "+Inf") {
		t.Fatalf("CheckFinite named the wrong term: %v", err)
	}
}

func TestResolveDevice(t *testing.T) {
	r, note, err := Resolve("auto")
	if err != nil || r.Name == "" {
		t.Fatalf("auto: %v", err)
	}
	if _, ok := registry["cuda"]; !ok && (r.Name != "cpu" || note == "") {
		t.Fatalf("auto without cuda gave %q with note %q", r.Name, note)
	}
	if r, _, err := Resolve("cpu"); err != nil || r.Name != "cpu" {
		t.Fatalf("cpu: %v", err)
	}
	if _, _, err := Resolve("tpu"); err == nil {
		t.Fatal("unknown device accepted")
	}
}

func TestSettingsValidate(t *testing.T) {
	for _, edit := range []func(*Settings){
		func(s *Settings) { s.Epochs = 0 },
		func(s *Settings) { s.BatchSize = 0 },
		func(s *Settings) { s.LR = -1 },
		func(s *Settings) { s.Samples = -2 },
		func(s *Settings) { s.Precision = "float16" },
	} {
		s := DefaultSettings()
		edit(&s)
		if s.Validate() == nil {
			t.Fatalf("accepted %+v", s)
		}
	}
	if err := DefaultSettings().Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestGraphBackendMatchesFused: the Gorgonia backend takes the same steps as
// the fused one (the losses agree to rounding, so after a few Adam steps the
// parameters agree to a tight tolerance).
func TestGraphBackendMatchesFused(t *testing.T) {
	p := quadraticProblem(60)
	s := DefaultSettings()
	s.Epochs, s.BatchSize, s.Samples = 2, 25, 3 // batches of 25, 25 and 10
	fused, b1 := newTrainer(t, "jkonet-star", p, s)
	graph, err := networks.NewNet("jkonet-star", 2, s.Seed)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := newCPUGraph(graph, p, s)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []Backend{b1, b2} {
		if err := Train(context.Background(), b, p, s, Observer{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range fused.Params {
		if d := math.Abs(fused.Params[i] - graph.Params[i]); d > 1e-9*(1+math.Abs(fused.Params[i])) {
			t.Fatalf("parameter %d: fused %v, graph %v", i, fused.Params[i], graph.Params[i])
		}
	}
}

// wrappingBackend wraps its steps' errors, as a device backend adds its
// context to a driver's error.
type wrappingBackend struct{ Backend }

func (w wrappingBackend) Step(lo, hi int, step uint64) error {
	if err := w.Backend.Step(lo, hi, step); err != nil {
		return fmt.Errorf("device: %w", err)
	}
	return nil
}

// TestWrappedNonFiniteErrorGetsItsEpoch: the trainer finds a NonFiniteError
// behind a wrapped error (errors.As, not a type assertion) and returns it
// with its epoch filled in.
func TestWrappedNonFiniteErrorGetsItsEpoch(t *testing.T) {
	p := quadraticProblem(20)
	for i := range p.Pairs.X {
		p.Pairs.X[i] *= 1e200
	}
	s := DefaultSettings()
	s.Epochs = 3
	_, b := newTrainer(t, "potential", p, s)
	err := Train(context.Background(), wrappingBackend{b}, p, s, Observer{})
	var nf *NonFiniteError
	if !errors.As(err, &nf) || nf.Epoch != 1 || !strings.HasPrefix(err.Error(), "training stopped at epoch 1 (step 0)") {
		t.Fatalf("got %v, want the wrapped NonFiniteError with epoch 1", err)
	}
}

// TestZeroPairsIsAnError: a problem without coupling pairs is refused with a
// message (it used to divide by zero steps per epoch).
func TestZeroPairsIsAnError(t *testing.T) {
	p := quadraticProblem(10)
	c := *p.Pairs
	c.X, c.Y, c.W, c.K, c.Tau, c.Score = nil, nil, nil, nil, nil, nil
	p.Pairs = &c
	s := DefaultSettings()
	_, b := newTrainer(t, "potential", p, s)
	if err := Train(context.Background(), b, p, s, Observer{}); err == nil || err.Error() != "no coupling pairs to train on" {
		t.Fatalf("got %v", err)
	}
}

// TestBackendNames: each registered CPU backend says its own name.
func TestBackendNames(t *testing.T) {
	p := quadraticProblem(10)
	for _, name := range []string{"cpu", "cpu-graph"} {
		r, _, err := Resolve(name)
		if err != nil {
			t.Fatal(err)
		}
		net, _ := networks.NewNet("potential", 2, 1)
		b, err := r.New(net, p, DefaultSettings())
		if err != nil {
			t.Fatal(err)
		}
		if b.Name() != name {
			t.Errorf("backend %q calls itself %q", name, b.Name())
		}
	}
}
