package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/jkonet-gpu/jkonet-gpu/eval/evaluate"
	"github.com/jkonet-gpu/jkonet-gpu/internal/progress"
	"github.com/jkonet-gpu/jkonet-gpu/models/modelfile"
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
		&cli.StringFlag{Name: "space", Usage: "where distances are measured: model (the model's coordinates) or input (the input's, both sides mapped back through the inverse of the model's transform)", Value: "model"},
		seedFlag, jsonFlag}, truthFlags, cellFlags, transformFlags),
	Action: eval,
}

func eval(c *cli.Context) error {
	s, set, err := subjectFromFlags(c)
	if err != nil {
		return err
	}
	e := evaluate.Evaluation{Metric: c.String("metric"), Warn: c.App.ErrWriter}
	if e.Space, err = evalSpace(c); err != nil {
		return err
	}
	if c.String("truth") == "" { // with --truth the oracle is what is scored
		e.Oracle = evaluate.RecordedTruth(set)
	}
	bar := progress.New("eval", e.Steps(set), c.Bool("json"))
	defer bar.Done()
	e.Progress = bar.Update
	res, err := evaluate.Evaluate(s, set, e)
	if err != nil {
		return fmt.Errorf("%s: %w", c.String("data"), err)
	}
	if c.Bool("json") {
		return json.NewEncoder(c.App.Writer).Encode(res)
	}
	printEval(c.App.Writer, c, res)
	return nil
}

// evalSpace is --space: the model's coordinates, or the input's through
// the inverse of the model's transform (cells.Transform.Inverse: exact for
// --dims and --standardize; a PCA's back-projection onto its span, where
// distances equal those between the PCA coordinates before any z-score).
func evalSpace(c *cli.Context) (evaluate.Space, error) {
	space := c.String("space")
	if err := spaceName(space); err != nil || space == "model" {
		return evaluate.Space{}, err
	}
	path := c.String("model")
	if path == "" {
		return evaluate.Space{}, fmt.Errorf("--space input: the input's coordinates are a model's (its transform); give --model")
	}
	f, err := modelfile.Load(path)
	if err != nil {
		return evaluate.Space{}, err
	}
	t, err := modelTransform(path, f)
	if err != nil || t == nil { // no transform: the input's coordinates are the model's
		return evaluate.Space{Name: space}, err
	}
	return evaluate.Space{Name: space, D: t.KeptDim(), Map: t.Inverse}, nil
}

// printEval prints the result as a table: one row per transition, the
// baselines beside the model.
func printEval(w io.Writer, c *cli.Context, res evaluate.Result) {
	name := c.String("model")
	if name == "" {
		name = "truth " + c.String("truth")
	}
	if res.Space != "" {
		fmt.Fprintf(w, "%s on %s (%s, %s space):\n", name, c.String("data"), res.Metric, res.Space)
	} else {
		fmt.Fprintf(w, "%s on %s (%s):\n", name, c.String("data"), res.Metric)
	}
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
