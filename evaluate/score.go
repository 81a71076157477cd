package evaluate

import (
	"fmt"
	"math"

	"github.com/jkonet-gpu/jkonet-gpu/ot"
	"github.com/jkonet-gpu/jkonet-gpu/snapshot"
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
}

// Score compares each prediction with the observed snapshot at its time by
// the exact W1 (Euclidean cost) or W2 (reported as the distance), uniform
// weights.
func Score(preds []Prediction, set *snapshot.Set, metric string) (Report, error) {
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
	for _, p := range preds {
		obs, ok := byTime[p.To]
		if !ok {
			return rep, fmt.Errorf("no observed snapshot at t=%v to compare with", p.To)
		}
		e, err := wp(p.X, obs, set.D)
		if err != nil {
			return rep, fmt.Errorf("t=%v → t=%v: comparing the predicted with the observed snapshot: %w", p.From, p.To, err)
		}
		rep.Transitions = append(rep.Transitions, TransitionError{From: p.From, To: p.To, Error: e})
		rep.Mean += e / float64(len(preds))
	}
	for _, t := range rep.Transitions {
		rep.Std += (t.Error - rep.Mean) * (t.Error - rep.Mean) / float64(len(preds))
	}
	rep.Std = math.Sqrt(rep.Std)
	return rep, nil
}
