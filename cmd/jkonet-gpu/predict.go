package main

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/jkonet-gpu/jkonet-gpu/data/cells"
	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/eval/evaluate"
	"github.com/jkonet-gpu/jkonet-gpu/internal/atomicfile"
	"github.com/jkonet-gpu/jkonet-gpu/models"
	"github.com/jkonet-gpu/jkonet-gpu/models/linear"
	"github.com/jkonet-gpu/jkonet-gpu/models/modelfile"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
	"github.com/jkonet-gpu/jkonet-gpu/models/zoo"
)

var (
	modelFlag  = &cli.StringFlag{Name: "model", Usage: "model file from train (.safetensors)"}
	truthFlag  = &cli.StringFlag{Name: "truth", Usage: "use the true zoo energy P (with --interaction, --beta, --dt) instead of a model: the oracle"}
	truthDT    = &cli.Float64Flag{Name: "dt", Usage: "--truth: the generator's time step (default: the data's dt, else 0.01)"}
	schemeFlag = &cli.StringFlag{Name: "scheme", Usage: "explicit or implicit (default: implicit for network models, explicit for linear models and --truth)"}
	truthFlags = []cli.Flag{truthFlag, interactionFlag, betaFlag, truthDT}
)

var predictCommand = &cli.Command{
	Name:  "predict",
	Usage: "predict each observed snapshot one step ahead",
	Description: `From each snapshot t_k but the last, take one step of τ_k to t_{k+1}:
   explicit x′ = x − τ(∇V(x) + mean ∇U(x − x_j)) + √(2τ|β|)ξ, or implicit (∇V at x′, solved
   by damped Newton steps): the default for network models, whose training fits ∇V at x′.
   Writes the predicted points with time label t_{k+1} and the source ids.`,
	Flags:  slices.Concat([]cli.Flag{modelFlag, dataFlag, timeColFlag, schemeFlag, seedFlag, outFlag, quietFlag}, truthFlags, cellFlags, transformFlags),
	Action: predict,
}

func predict(c *cli.Context) error {
	out := c.String("out")
	if err := atomicfile.CheckWritable(out); err != nil {
		return err
	}
	m, opts, set, err := modelFromFlags(c)
	if err != nil {
		return err
	}
	preds, err := predictAndWarn(c, m, set, opts)
	if err != nil {
		return err
	}
	if err := evaluate.ToSet(preds, set.D).Save(out); err != nil {
		return err
	}
	if !c.Bool("quiet") {
		fmt.Fprintf(c.App.Writer, "wrote %s: %d predicted snapshots\n", out, len(preds))
	}
	return nil
}

// modelFromFlags loads --model, or builds the true energy of --truth, with
// the prediction options that go with it, and reads --data: mapped by the
// model's transform (cellsForModel), or by the transform flags for --truth.
func modelFromFlags(c *cli.Context) (models.Model, evaluate.PredictOptions, *snapshot.Set, error) {
	opts := evaluate.DefaultPredictOptions()
	opts.Seed = c.Uint64("seed")
	path, truth := c.String("model"), c.String("truth")
	var m models.Model
	var set *snapshot.Set
	switch {
	case path != "" && truth != "":
		return nil, opts, nil, fmt.Errorf("give either --model or --truth, not both")
	case path == "" && truth == "":
		return nil, opts, nil, fmt.Errorf("--model is required (or --truth P to score the true energy)")
	case truth != "":
		var err error
		if set, err = loadData(c); err != nil {
			return nil, opts, nil, err
		}
		t, err := truthModel(truth, c.String("interaction"), c.Float64("beta"), c.Float64("dt"), set)
		if err != nil {
			return nil, opts, nil, err
		}
		m = t
	default:
		raw, err := readCells(c)
		if err != nil {
			return nil, opts, nil, err
		}
		f, err := modelfile.Load(path)
		if err != nil {
			return nil, opts, nil, err
		}
		if m, err = f.Model(); err != nil {
			return nil, opts, nil, fmt.Errorf("%s: %w", path, err)
		}
		if set, err = cellsForModel(c, raw, path, f); err != nil {
			return nil, opts, nil, err
		}
		if f.Dim != set.D {
			return nil, opts, nil, fmt.Errorf("%s: the model is for d = %d but %s has d = %d", path, f.Dim, c.String("data"), set.D)
		}
		if extra := untrainedTimes(set.Times(), f.Times); len(extra) > 0 {
			fmt.Fprintf(c.App.ErrWriter, "warning: %s has times %v that %s was not trained at (it was at %v); τ and the time input come from the labels, so check --time-values\n", c.String("data"), extra, path, f.Times)
		}
		opts = modelPredictOptions(f, opts)
	}
	if s := c.String("scheme"); s != "" {
		opts.Scheme = s
	}
	return m, opts, set, nil
}

// untrainedTimes are the data's times that are not among the model's
// training times: usually held-out cells labelled otherwise than the
// training cells (days against indices), which makes every τ wrong.
func untrainedTimes(data, trained []float64) []float64 {
	var extra []float64
	for _, t := range data {
		if !slices.Contains(trained, t) {
			extra = append(extra, t)
		}
	}
	return extra
}

// modelPredictOptions sets opts to predict with the model of file f: its
// time unit and origin, and its scheme. Predict where the model was fitted:
// the networks' loss takes ∇V at the target of each step (the JKO
// optimality condition), so they step implicitly; the explicit step would
// evaluate ∇V at the source, where the first snapshots of a flow put
// particles the targets never reach (docs/design.md §6.2; on
// styblinski_tang that costs 0.086 W1 against 0.005). The linear models
// and time-potential are fitted at the source, so they step explicitly.
func modelPredictOptions(f *modelfile.File, opts evaluate.PredictOptions) evaluate.PredictOptions {
	opts.MeanInterval, opts.TimeOrigin, opts.Scheme = f.MeanInterval, f.TimeOrigin(), "implicit"
	if f.Kind == linear.Kind || f.Kind == linear.PotentialKind || networks.FitsAtSource(f.Kind) {
		opts.Scheme = "explicit"
	}
	return opts
}

// truthModel is the zoo energy in model units; dt ≤ 0 takes the data's dt.
func truthModel(potential, interaction string, beta, dt float64, set *snapshot.Set) (*models.Truth, error) {
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

// dataTruth is the true energy recorded in a generated file's meta, or nil.
// Cells mapped by a transform (--dims, --pca, --standardize) have none: the
// zoo energy lives in the generator's coordinates, not in the transform's.
func dataTruth(set *snapshot.Set) *models.Truth {
	var meta generateMeta
	if len(set.Meta) == 0 || json.Unmarshal(set.Meta, &meta) != nil || meta.Potential == "" {
		return nil
	}
	if t, err := cells.FromMeta(set.Meta); err != nil || t != nil {
		return nil
	}
	t, err := truthModel(meta.Potential, meta.Interaction, meta.Beta, meta.DT, set)
	if err != nil {
		return nil
	}
	return t
}

// predictAndWarn predicts and warns about implicit steps that did not
// converge.
func predictAndWarn(c *cli.Context, m models.Model, set *snapshot.Set, opts evaluate.PredictOptions) ([]evaluate.Prediction, error) {
	preds, err := evaluate.Predict(m, set, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.String("data"), err)
	}
	// A step that overflows (a τ or a gradient too large for the points,
	// e.g. the oracle with a huge --dt) gives Inf or NaN points: say so here,
	// where the transition is known, rather than let predict fail on its
	// output file or eval on a distance.
	for _, p := range preds {
		for i, v := range p.X {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%s: t=%v → t=%v: predicted point %d is %v in coordinate %d, expected a finite number: the step overflows with this energy",
					c.String("data"), p.From, p.To, i/set.D, v, i%set.D)
			}
		}
	}
	for _, p := range preds {
		if n := len(p.Unconverged); n > 0 {
			rows := fmt.Sprint(p.Unconverged[:min(n, 5)])
			if n > 5 {
				rows = rows[:len(rows)-1] + " …]"
			}
			fmt.Fprintf(c.App.ErrWriter, "warning: t=%g → t=%g: the implicit step did not converge for %d of %d particles (rows %s; %d iterations; the best iterate is used)\n",
				p.From, p.To, n, len(p.X)/set.D, rows[1:len(rows)-1], opts.MaxIter)
		}
	}
	return preds, nil
}
