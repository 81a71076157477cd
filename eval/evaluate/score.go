package evaluate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/ot"
)

// TransitionError is the error of one predicted snapshot.
type TransitionError struct {
	From  float64 `json:"from"`
	To    float64 `json:"to"`
	Error float64 `json:"error"`
}

// Report is the one-step-ahead error of a set of predictions.
type Report struct {
	Metric      string            `json:"metric"`
	Transitions []TransitionError `json:"transitions"`
	Mean        float64           `json:"mean"`
	Std         float64           `json:"std"` // population standard deviation over the transitions
	// Subsample is set when a snapshot had more than ExactMax points: every
	// distance was then taken between subsamples of at most Subsample points
	// per side (see Score).
	Subsample int `json:"subsample,omitempty"`
}

// ExactMax is the most points per side that Score compares exactly. The
// exact solvers cost about n³ (on 2 cores, in d = 50: 5000 points 10–20 s,
// 10^4 about a minute, 10^5 would take days), so larger snapshots are
// compared on subsamples of ExactMax points.
const ExactMax = 5000

// subsampleSeed seeds the subsamples: fixed, so that a model, no motion and
// the oracle are scored on the same observed points and on the predictions
// of the same source rows (paired, not independent, draws).
const subsampleSeed = 0x6a6b6f6e_65742d77 // "jkonet-w"

// Score compares each prediction with the observed snapshot at its time by
// W1 (Euclidean cost) or W2 (reported as the distance), uniform weights:
// exact while both sides have at most ExactMax points; otherwise between a
// uniform random subsample of ExactMax points of each side larger than that
// (without replacement, seeded by the side's size, so the same rows for
// every model scored on the same data). A subsample's distance is an
// estimate, biased upwards by the extra sampling noise of fewer points, for
// every model alike.
func Score(preds []Prediction, set *snapshot.Set, metric string) (Report, error) {
	return ScoreProgress(preds, set, metric, nil)
}

// Space is where distances are measured: the model's coordinates (the
// zero value), or those Map takes n rows of them to, D columns each (e.g.
// the input's, through the inverse of the cells' transform).
type Space struct {
	Name string // "input"; "" for the model's
	D    int
	Map  func(x []float64, n int) []float64
}

// in maps n×d points of model coordinates into the space.
func (s Space) in(x []float64, d int) ([]float64, int) {
	if s.Map == nil {
		return x, d
	}
	return s.Map(x, len(x)/d), s.D
}

// ScoreProgress is Score calling scored(done) after each transition (scored
// may be nil).
func ScoreProgress(preds []Prediction, set *snapshot.Set, metric string, scored func(done int)) (Report, error) {
	return scoreIn(Space{}, preds, set, metric, scored)
}

// scoreIn is ScoreProgress with the distances measured in space: the
// predicted and the observed points are both mapped there.
func scoreIn(space Space, preds []Prediction, set *snapshot.Set, metric string, scored func(done int)) (Report, error) {
	wp := ot.W1
	switch metric {
	case "w1":
	case "w2":
		wp = ot.W2
	default:
		return Report{}, fmt.Errorf("--metric: expected w1 or w2, got %q", metric)
	}
	byTime := map[float64][]float64{}
	for _, s := range set.Snapshots() {
		byTime[s.Time] = s.X
	}
	rep := Report{Metric: metric}
	for k, p := range preds {
		obs, ok := byTime[p.To]
		if !ok {
			return rep, fmt.Errorf("no observed snapshot at t=%v to compare with", p.To)
		}
		a, b := Subsample(p.X, set.D, ExactMax), Subsample(obs, set.D, ExactMax)
		if len(a) < len(p.X) || len(b) < len(obs) {
			rep.Subsample = ExactMax
		}
		a, d := space.in(a, set.D)
		b, _ = space.in(b, set.D)
		e, err := wp(a, b, d)
		if err != nil {
			return rep, fmt.Errorf("t=%v → t=%v: comparing the predicted with the observed snapshot: %w", p.From, p.To, err)
		}
		rep.Transitions = append(rep.Transitions, TransitionError{From: p.From, To: p.To, Error: e})
		rep.Mean += e / float64(len(preds))
		if scored != nil {
			scored(k + 1)
		}
	}
	for _, t := range rep.Transitions {
		rep.Std += (t.Error - rep.Mean) * (t.Error - rep.Mean) / float64(len(preds))
	}
	rep.Std = math.Sqrt(rep.Std)
	return rep, nil
}

// Subsample returns x (n points of dimension d) when n ≤ most, else most of
// its points drawn uniformly without replacement, in their original order.
// The draw depends on n only: the same rows of any x of n points.
func Subsample(x []float64, d, most int) []float64 {
	n := len(x) / d
	if n <= most {
		return x
	}
	rng := rand.New(rand.NewPCG(subsampleSeed, uint64(n)))
	rows := rng.Perm(n)[:most]
	slices.Sort(rows)
	out := make([]float64, 0, most*d)
	for _, i := range rows {
		out = append(out, x[i*d:(i+1)*d]...)
	}
	return out
}
