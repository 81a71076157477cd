package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/eval/evaluate"
	"github.com/jkonet-gpu/jkonet-gpu/internal/progress"
	"github.com/jkonet-gpu/jkonet-gpu/models"
	"github.com/jkonet-gpu/jkonet-gpu/models/linear"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
)

var evalCommand = &cli.Command{
	Name:  "eval",
	Usage: "one-step-ahead error of a model on test snapshots, beside the baselines",
	Description: `Predicts each test snapshot t_{k+1} from the observed t_k and reports the W1
   (or W2, as a distance) to the observed t_{k+1}, per transition, with mean and std: exact up
   to ` + fmt.Sprint(evaluate.ExactMax) + ` points a snapshot, between random subsamples of that many above. Beside it:
   no motion (x′ = x) and, for generated data (or with --truth), the true energy (oracle).
   The learned β is reported in model units; it is not identifiable when V is free.`,
	Flags: slices.Concat([]cli.Flag{modelFlag, dataFlag, timeColFlag, schemeFlag,
		&cli.StringFlag{Name: "metric", Usage: "w1 or w2", Value: "w1"},
		seedFlag, jsonFlag}, truthFlags, cellFlags, transformFlags),
	Action: eval,
}

// evalResult is eval's JSON.
type evalResult struct {
	evaluate.Report
	Beta      *float64                   `json:"beta,omitempty"`
	Baselines map[string]evaluate.Report `json:"baselines"`
}

func eval(c *cli.Context) error {
	m, opts, set, err := modelFromFlags(c)
	if err != nil {
		return err
	}
	metric := c.String("metric")
	truth := dataTruth(set)
	if c.String("truth") != "" {
		truth = nil
	}
	// Progress: per predictor (model, no motion, oracle), its prediction
	// and one distance per transition; both take minutes at 10^5 cells.
	runs, transitions := 2, len(set.Times())-1
	if truth != nil {
		runs++
	}
	bar := progress.New("eval", runs*(1+transitions), c.Bool("json"))
	defer bar.Done()
	done := 0
	step := func(what string) {
		done++
		bar.Update(done, what)
	}
	scorePreds := func(name string, preds []evaluate.Prediction) (evaluate.Report, error) {
		step(name + ": predicted")
		rep, err := evaluate.ScoreProgress(preds, set, metric, func(int) { step(name + ": " + metric) })
		if err != nil {
			return rep, fmt.Errorf("%s: %w", c.String("data"), err)
		}
		return rep, nil
	}
	score := func(name string, m models.Model, opts evaluate.PredictOptions) (evaluate.Report, error) {
		preds, err := predictAndWarn(c, m, set, opts)
		if err != nil {
			return evaluate.Report{}, err
		}
		return scorePreds(name, preds)
	}
	rep, err := score("model", m, opts)
	if err != nil {
		return err
	}
	res := evalResult{Report: rep, Baselines: map[string]evaluate.Report{}}
	if learnsBeta(m) {
		b := m.Beta()
		res.Beta = &b
	}
	if res.Baselines["no_motion"], err = scorePreds("no motion", evaluate.NoMotion(set)); err != nil {
		return err
	}
	if truth != nil {
		o := evaluate.DefaultPredictOptions()
		o.Seed = opts.Seed
		if res.Baselines["oracle"], err = score("oracle", truth, o); err != nil {
			return err
		}
	}
	if err := res.checkFinite(); err != nil {
		return fmt.Errorf("%s: %w", c.String("data"), err)
	}
	if c.Bool("json") {
		return json.NewEncoder(c.App.Writer).Encode(res)
	}
	printEval(c.App.Writer, c, set, res)
	return nil
}

// checkFinite refuses a result with a NaN or Inf in it, which the text
// output would print as such and --json could not encode: one line naming
// the number instead.
func (r evalResult) checkFinite() error {
	reports := map[string]evaluate.Report{"model": r.Report}
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

// learnsBeta reports whether the model has a learned β to report.
func learnsBeta(m models.Model) bool {
	switch m := m.(type) {
	case *networks.Net:
		return m.HasInternal()
	case *linear.Model:
		return m.Kind() == linear.Kind
	}
	return false
}

func printEval(w io.Writer, c *cli.Context, set *snapshot.Set, res evalResult) {
	name := c.String("model")
	if name == "" {
		name = "truth " + c.String("truth")
	}
	fmt.Fprintf(w, "%s on %s (%s):\n", name, c.String("data"), res.Metric)
	fmt.Fprintf(w, "  %-12s %-12s %10s %10s", "from", "to", "model", "no motion")
	oracle, hasOracle := res.Baselines["oracle"]
	if hasOracle {
		fmt.Fprintf(w, " %10s", "oracle")
	}
	fmt.Fprintln(w)
	for k, t := range res.Transitions {
		fmt.Fprintf(w, "  %-12g %-12g %10.4f %10.4f", t.From, t.To, t.Error, res.Baselines["no_motion"].Transitions[k].Error)
		if hasOracle {
			fmt.Fprintf(w, " %10.4f", oracle.Transitions[k].Error)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  %-25s %10.4f %10.4f", "mean", res.Mean, res.Baselines["no_motion"].Mean)
	if hasOracle {
		fmt.Fprintf(w, " %10.4f", oracle.Mean)
	}
	fmt.Fprintf(w, "\n  %-25s %10.4f %10.4f", "std", res.Std, res.Baselines["no_motion"].Std)
	if hasOracle {
		fmt.Fprintf(w, " %10.4f", oracle.Std)
	}
	fmt.Fprintln(w)
	if res.Subsample > 0 {
		fmt.Fprintf(w, "  %s between random subsamples of %d points per snapshot (exact above %d points is too slow; README \"Scale\")\n", res.Metric, res.Subsample, evaluate.ExactMax)
	}
	if res.Beta != nil {
		fmt.Fprintf(w, "  learned β = %.4g (model units; descriptive, not the true diffusion coefficient)\n", *res.Beta)
	}
}
