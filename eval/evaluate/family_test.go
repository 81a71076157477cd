package evaluate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/models"
	"github.com/jkonet-gpu/jkonet-gpu/models/modelfile"
)

// pullKind is a model family that exists only in this test: V(x) = ½a‖x‖²
// and a β, parameters [a, β], fitted in closed form at the target of each
// pair as the networks are, so it predicts implicitly. Nothing outside this
// file knows it: it is fitted, saved, loaded, predicted with and scored
// through the family table alone.
const pullKind = "test-pull"

func init() {
	models.RegisterFamily(models.Family{
		Name:       pullKind,
		Scheme:     models.Implicit,
		LearnsBeta: true,
		New: func(d int, params []float64) (models.Model, error) {
			if len(params) != 2 {
				return nil, fmt.Errorf("%s model has 2 parameters, got %d", pullKind, len(params))
			}
			return pullModel{d: d, a: params[0], beta: params[1]}, nil
		},
		Layout: func(int) ([]models.ParamTensor, error) {
			return []models.ParamTensor{{Name: "a", Shape: []int{}}, {Name: "beta", Offset: 1, Shape: []int{}}}, nil
		},
		// The least-squares a of τ·a·y + (y − x) = 0 over the pairs; β = 0.
		Fit: func(p *models.Pairs) ([]float64, error) {
			var num, den float64
			for i, w := range p.W {
				tau := p.Tau[i]
				for c := range p.D {
					x, y := p.X[i*p.D+c], p.Y[i*p.D+c]
					num -= w * tau * y * (y - x)
					den += w * tau * tau * y * y
				}
			}
			return []float64{num / den, 0}, nil
		},
	})
}

type pullModel struct {
	d       int
	a, beta float64
}

func (m pullModel) Dim() int                          { return m.d }
func (m pullModel) PotentialAt(float64) models.Energy { return m }
func (m pullModel) Interaction() models.Energy        { return nil }
func (m pullModel) Beta() float64                     { return m.beta }
func (m pullModel) Eval(x []float64, d int, val, grad []float64) {
	for i := 0; i < len(x)/d; i++ {
		var sq float64
		for c := range d {
			sq += x[i*d+c] * x[i*d+c]
			if grad != nil {
				grad[i*d+c] = m.a * x[i*d+c]
			}
		}
		if val != nil {
			val[i] = m.a * sq / 2
		}
	}
}

// pullData are three snapshots of n points, each the implicit (JKO) step of
// V = ½a‖x‖² from the one before: x_{k+1} = x_k/(1 + a).
func pullData(a float64, n int) *snapshot.Set {
	rng := rand.New(rand.NewPCG(3, 3))
	x := make([]float64, 2*n)
	for i := range x {
		x[i] = 4*rng.Float64() - 2
	}
	var xs [][]float64
	for range 3 {
		xs = append(xs, x)
		next := make([]float64, len(x))
		for i, v := range x {
			next[i] = v / (1 + a)
		}
		x = next
	}
	return snapshot.FromTrajectories(xs, 2)
}

// TestFamilyThroughTheTable: a test-only family is fitted by its Fit,
// saved and loaded as a model file, and predicts with the scheme it
// registered (implicit), which reproduces its own data exactly where the
// explicit step would not; eval reports its β, and counts every step.
func TestFamilyThroughTheTable(t *testing.T) {
	const a = 0.5
	set := pullData(a, 40)
	snaps := set.Snapshots()
	p := &models.Pairs{D: 2, X: snaps[0].X, Y: snaps[1].X}
	for range 40 {
		p.W, p.Tau = append(p.W, 1.0/40), append(p.Tau, 1)
	}
	fam, err := models.LookupFamily(pullKind)
	if err != nil {
		t.Fatal(err)
	}
	params, err := fam.Fit(p)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(params[0]-a) > 1e-12 {
		t.Fatalf("fitted a = %v, want %v", params[0], a)
	}
	path := filepath.Join(t.TempDir(), "pull.safetensors")
	if err := modelfile.Save(path, &modelfile.File{Kind: pullKind, Dim: 2, Times: []float64{0, 1, 2}, MeanInterval: 1, Params: params}); err != nil {
		t.Fatal(err)
	}
	f, err := modelfile.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := FromFile(f, DefaultPredictOptions())
	if err != nil {
		t.Fatal(err)
	}
	if s.Options.Scheme != models.Implicit || !s.LearnsBeta || s.Options.MeanInterval != 1 || s.Options.TimeOrigin != 0 {
		t.Fatalf("subject options %+v, learns β %v; want implicit, true, unit interval from 0", s.Options, s.LearnsBeta)
	}
	preds, err := PredictChecked(s, set, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, pr := range preds {
		for i, v := range pr.X {
			if want := snaps[k+1].X[i]; math.Abs(v-want) > 1e-12 {
				t.Fatalf("transition %d, coordinate %d: predicted %v, want %v", k, i, v, want)
			}
		}
	}
	var calls, last int
	e := Evaluation{Metric: "w1", Progress: func(done int, _ string) { calls, last = calls+1, done }}
	res, err := Evaluate(s, set, e)
	if err != nil {
		t.Fatal(err)
	}
	if res.Mean > 1e-12 || res.Baselines["no_motion"].Mean < 0.1 || res.Beta == nil || *res.Beta != 0 {
		t.Fatalf("model error %v, no motion %v, β %v; want 0, > 0.1, 0", res.Mean, res.Baselines["no_motion"].Mean, res.Beta)
	}
	if want := e.Steps(set); want != 6 || calls != want || last != want {
		t.Fatalf("progress: %d calls, last %d, of Steps %d; want 6 each", calls, last, want)
	}
	s.Options.Scheme = models.Explicit // x(1 − a) instead of x/(1 + a)
	if res, err := Evaluate(s, set, Evaluation{Metric: "w1"}); err != nil || res.Mean < 0.01 {
		t.Fatalf("explicit step: error %v (%v), want the scheme to matter", res.Mean, err)
	}
}

// TestEvaluateOracle: with the true energy as oracle, the report has its
// baseline, scored with the oracle's own (explicit) scheme, and no β for a
// subject that learns none.
func TestEvaluateOracle(t *testing.T) {
	set, truth := generated(t, "styblinski_tang", 0)
	s := Subject{Model: truth, Options: DefaultPredictOptions()}
	s.Options.Scheme = models.Implicit
	res, err := Evaluate(s, set, Evaluation{Metric: "w1", Oracle: truth})
	if err != nil {
		t.Fatal(err)
	}
	oracle, ok := res.Baselines["oracle"]
	if !ok || oracle.Mean != 0 || res.Mean == 0 || res.Beta != nil || len(res.Baselines) != 2 {
		t.Fatalf("oracle %+v (present %v), implicit subject %v, β %v", oracle, ok, res.Mean, res.Beta)
	}
}

// TestResultRefusesNonFinite: whatever yields a NaN or Inf error or β,
// Evaluate says so in one line rather than return it.
func TestResultRefusesNonFinite(t *testing.T) {
	ok := Report{Metric: "w1", Transitions: []TransitionError{{From: 0, To: 1, Error: 0.5}}, Mean: 0.5}
	bad := ok
	bad.Transitions = []TransitionError{{From: 0, To: 1, Error: math.Inf(1)}}
	nan := math.NaN()
	for name, res := range map[string]Result{
		"error":    {Report: bad, Baselines: map[string]Report{"no_motion": ok}},
		"baseline": {Report: ok, Baselines: map[string]Report{"no_motion": bad}},
		"beta":     {Report: ok, Beta: &nan, Baselines: map[string]Report{"no_motion": ok}},
	} {
		if err := res.checkFinite(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := (Result{Report: ok, Baselines: map[string]Report{"no_motion": ok}}).checkFinite(); err != nil {
		t.Errorf("finite result refused: %v", err)
	}
}
