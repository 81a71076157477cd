package evaluate

import (
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/jkonet-gpu/jkonet-gpu/data/cells"
	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/models"
	"github.com/jkonet-gpu/jkonet-gpu/models/modelfile"
	"github.com/jkonet-gpu/jkonet-gpu/models/zoo"
)

// Subject is an energy to predict with: a trained model or the true energy,
// the options it predicts with, and whether it has a learned β to report.
type Subject struct {
	Model      models.Model
	Options    PredictOptions
	LearnsBeta bool
}

// FromFile is the model a model file holds, predicting in the file's time
// unit and origin with the scheme its family was fitted for (see
// models.Family.Scheme); the other options come from opts.
func FromFile(f *modelfile.File, opts PredictOptions) (Subject, error) {
	m, err := f.Model()
	if err != nil {
		return Subject{}, err
	}
	fam, err := models.LookupFamily(f.Kind)
	if err != nil {
		return Subject{}, err
	}
	opts.MeanInterval, opts.TimeOrigin, opts.Scheme = f.MeanInterval, f.TimeOrigin(), fam.Scheme
	return Subject{Model: m, Options: opts, LearnsBeta: fam.LearnsBeta}, nil
}

// TrueEnergy is the zoo energy potential, with the interaction kernel if one
// is named and diffusion beta, in model units for snapshots dt apart; dt ≤ 0
// takes the data's dt, or 0.01 when the data record none.
func TrueEnergy(potential, interaction string, beta, dt float64, set *snapshot.Set) (*models.Truth, error) {
	t := &models.Truth{D: set.D, TrueBeta: beta, DT: dt}
	var err error
	if t.V, err = zoo.Get(potential); err != nil {
		return nil, fmt.Errorf("--truth: %w", err)
	}
	if interaction != "" {
		if t.W, err = zoo.Get(interaction); err != nil {
			return nil, fmt.Errorf("--interaction: %w", err)
		}
	}
	if t.DT <= 0 {
		t.DT = set.DT
	}
	if t.DT <= 0 {
		t.DT = 0.01
	}
	return t, nil
}

// RecordedTruth is the true energy that generate records in its file's
// meta, or nil. Cells mapped by a transform (--dims, --pca, --standardize)
// have none: the zoo energy lives in the generator's coordinates, not in
// the transform's.
func RecordedTruth(set *snapshot.Set) *models.Truth {
	// The keys of generate's meta that name the energy.
	var meta struct {
		Potential   string  `json:"potential"`
		Interaction string  `json:"interaction"`
		Beta        float64 `json:"beta"`
		DT          float64 `json:"dt"`
	}
	if len(set.Meta) == 0 || json.Unmarshal(set.Meta, &meta) != nil || meta.Potential == "" {
		return nil
	}
	if t, err := cells.FromMeta(set.Meta); err != nil || t != nil {
		return nil
	}
	t, err := TrueEnergy(meta.Potential, meta.Interaction, meta.Beta, meta.DT, set)
	if err != nil {
		return nil
	}
	return t
}

// PredictChecked is Predict that refuses a prediction with a point that is
// not finite, and writes to warn (if not nil) one line for each transition
// whose implicit steps did not all converge.
func PredictChecked(s Subject, set *snapshot.Set, warn io.Writer) ([]Prediction, error) {
	preds, err := Predict(s.Model, set, s.Options)
	if err != nil {
		return nil, err
	}
	// A step that overflows (a τ or a gradient too large for the points,
	// e.g. the oracle with a huge --dt) gives Inf or NaN points: say so here,
	// where the transition is known, rather than let predict fail on its
	// output file or eval on a distance.
	for _, p := range preds {
		for i, v := range p.X {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("t=%v → t=%v: predicted point %d is %v in coordinate %d, expected a finite number: the step overflows with this energy",
					p.From, p.To, i/set.D, v, i%set.D)
			}
		}
	}
	for _, p := range preds {
		if n := len(p.Unconverged); n > 0 && warn != nil {
			rows := fmt.Sprint(p.Unconverged[:min(n, 5)])
			if n > 5 {
				rows = rows[:len(rows)-1] + " …]"
			}
			fmt.Fprintf(warn, "warning: t=%g → t=%g: the implicit step did not converge for %d of %d particles (rows %s; %d iterations; the best iterate is used)\n",
				p.From, p.To, n, len(p.X)/set.D, rows[1:len(rows)-1], s.Options.MaxIter)
		}
	}
	return preds, nil
}

// Evaluation configures Evaluate.
type Evaluation struct {
	Metric string // "w1" or "w2"
	// Oracle is the true energy scored beside the subject, or nil for none.
	// It predicts explicitly, in the data's time unit, with the subject's
	// seed.
	Oracle *models.Truth
	// Progress, if not nil, hears each step done, of Steps in all.
	Progress func(done int, what string)
	// Warn, if not nil, receives warnings, a line each.
	Warn io.Writer
	// Space is where the distances are measured (zero: the model's
	// coordinates), for the subject and the baselines alike.
	Space Space
}

// Result is the subject's one-step error on the data beside the baselines:
// "no_motion" always, "oracle" with an oracle. Its JSON is eval's --json.
type Result struct {
	Report
	// Space names where the distances were measured when not in the
	// model's coordinates ("input").
	Space string `json:"space,omitempty"`
	// Beta is the learned β, for a subject that learns one.
	Beta      *float64          `json:"beta,omitempty"`
	Baselines map[string]Report `json:"baselines"`
}

// Steps is the number of progress steps Evaluate takes on set: for each
// predictor (the subject, no motion, the oracle) its prediction and one
// distance per transition; both take minutes at 10^5 cells.
func (e Evaluation) Steps(set *snapshot.Set) int {
	runs := 2
	if e.Oracle != nil {
		runs++
	}
	return runs * len(set.Times())
}

// Evaluate predicts every snapshot of set but the first from the one
// before with the subject, with no motion and with the oracle, and scores
// each prediction against the observed snapshot.
func Evaluate(s Subject, set *snapshot.Set, e Evaluation) (Result, error) {
	done := 0
	step := func(what string) {
		done++
		if e.Progress != nil {
			e.Progress(done, what)
		}
	}
	scorePreds := func(name string, preds []Prediction) (Report, error) {
		step(name + ": predicted")
		return scoreIn(e.Space, preds, set, e.Metric, func(int) { step(name + ": " + e.Metric) })
	}
	score := func(name string, s Subject) (Report, error) {
		preds, err := PredictChecked(s, set, e.Warn)
		if err != nil {
			return Report{}, err
		}
		return scorePreds(name, preds)
	}
	rep, err := score("model", s)
	if err != nil {
		return Result{}, err
	}
	res := Result{Report: rep, Space: e.Space.Name, Baselines: map[string]Report{}}
	if s.LearnsBeta {
		b := s.Model.Beta()
		res.Beta = &b
	}
	if res.Baselines["no_motion"], err = scorePreds("no motion", NoMotion(set)); err != nil {
		return Result{}, err
	}
	if e.Oracle != nil {
		o := DefaultPredictOptions()
		o.Seed = s.Options.Seed
		if res.Baselines["oracle"], err = score("oracle", Subject{Model: e.Oracle, Options: o}); err != nil {
			return Result{}, err
		}
	}
	return res, res.checkFinite()
}

// checkFinite refuses a result with a NaN or Inf in it, which the text
// output would print as such and JSON could not encode: one line naming
// the number instead.
func (r Result) checkFinite() error {
	reports := map[string]Report{"model": r.Report}
	for name, b := range r.Baselines {
		reports[name] = b
	}
	for name, rep := range reports {
		for _, t := range rep.Transitions {
			if math.IsNaN(t.Error) || math.IsInf(t.Error, 0) {
				return fmt.Errorf("%s: the %s error of t=%v → t=%v is %v, expected a finite number", name, rep.Metric, t.From, t.To, t.Error)
			}
		}
		if math.IsNaN(rep.Mean) || math.IsInf(rep.Mean, 0) || math.IsNaN(rep.Std) || math.IsInf(rep.Std, 0) {
			return fmt.Errorf("%s: the mean %s error is %v ± %v, expected finite numbers", name, rep.Metric, rep.Mean, rep.Std)
		}
	}
	if r.Beta != nil && (math.IsNaN(*r.Beta) || math.IsInf(*r.Beta, 0)) {
		return fmt.Errorf("the model's β is %v, expected a finite number", *r.Beta)
	}
	return nil
}
