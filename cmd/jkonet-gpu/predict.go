package main

import (
	"fmt"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/jkonet-gpu/jkonet-gpu/data/h5ad"
	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/eval/evaluate"
	"github.com/jkonet-gpu/jkonet-gpu/models"
	"github.com/jkonet-gpu/jkonet-gpu/models/modelfile"
)

var (
	modelFlag  = &cli.StringFlag{Name: "model", Usage: "model file from train (.safetensors)"}
	truthFlag  = &cli.StringFlag{Name: "truth", Usage: "use the true zoo energy P (with --interaction, --beta, --dt) instead of a model: the oracle"}
	truthDT    = &cli.Float64Flag{Name: "dt", Usage: "--truth: the generator's time step (default: the data's dt, else 0.01)"}
	schemeFlag = &cli.StringFlag{Name: "scheme", Usage: "explicit or implicit (default: implicit for network models, explicit for linear models and --truth)"}
	truthFlags = []cli.Flag{truthFlag, interactionFlag, betaFlag, truthDT}
	spaceFlag  = &cli.StringFlag{Name: "space", Usage: "coordinates of the written points: model (the model's) or input (the input's, through the inverse of the model's transform)", Value: "model"}
)

var predictCommand = &cli.Command{
	Name:  "predict",
	Usage: "predict each observed snapshot one step ahead",
	Description: `From each snapshot t_k but the last, take one step of τ_k to t_{k+1}:
   explicit x′ = x − τ(∇V(x) + mean ∇U(x − x_j)) + √(2τ|β|)ξ, or implicit (∇V at x′, solved
   by damped Newton steps): the default for network models, whose training fits ∇V at x′.
   Writes the predicted points with time label t_{k+1}, the source ids and names (barcodes).
   --space model (default) writes the model's coordinates; --space input maps them back through
   the model's transform: --standardize and --dims exactly (the first --dims columns), --pca to
   the PCA's span (back-projections; the dropped variance is not recovered).
   An .h5ad --out is an AnnData file for anndata/scanpy: obs index the source cells' barcodes,
   obs day, from_day, t and jkonet_V (V at the cell), X the points in --space, obsm X_jkonet and jkonet_step (the one-step
   displacement) in model coordinates and, with a transform, X_jkonet_input and
   jkonet_step_input in the input's; uns["jkonet"] the model's metadata (JSON).`,
	Flags:  slices.Concat([]cli.Flag{modelFlag, dataFlag, timeColFlag, schemeFlag, seedFlag, outFlag, spaceFlag, quietFlag}, truthFlags, cellFlags, transformFlags),
	Action: predict,
}

func predict(c *cli.Context) error {
	out, space := c.String("out"), c.String("space")
	if err := spaceName(space); err != nil {
		return err
	}
	if err := checkOutputs(c, []string{"out"}, "data", "model"); err != nil {
		return err
	}
	s, set, err := subjectFromFlags(c)
	if err != nil {
		return err
	}
	preds, err := evaluate.PredictChecked(s, set, c.App.ErrWriter)
	if err != nil {
		return fmt.Errorf("%s: %w", c.String("data"), err)
	}
	// The predictions are in the model's coordinates: the meta records the
	// transform (and the time labels) of the cells, so that info names the
	// space and distance maps raw cells into it; --space input maps them
	// back.
	r, err := collect(set, preds)
	if err != nil {
		return err
	}
	if isAnnData(out) {
		info := map[string]any{"command": "predict", "scheme": s.Options.Scheme, "data": c.String("data")}
		if m := c.String("model"); m != "" {
			info["model"] = m
		} else {
			info["truth"] = c.String("truth")
		}
		// V as Predict steps with it: at the target time, in mean
		// intervals since the model's time origin.
		potential := func(t float64) models.Energy {
			return s.Model.PotentialAt((t - s.Options.TimeOrigin) / s.Options.MeanInterval)
		}
		a, err := r.annData(space, potential, info)
		if err != nil {
			return err
		}
		if err := h5ad.Write(out, a); err != nil {
			return err
		}
	} else {
		res, err := r.points(space)
		if err != nil {
			return err
		}
		if err := res.Save(out); err != nil {
			return err
		}
	}
	if !c.Bool("quiet") {
		fmt.Fprintf(c.App.Writer, "wrote %s: %d predicted snapshots\n", out, len(preds))
	}
	return nil
}

// subjectFromFlags is the energy to predict with, --model or the true
// energy of --truth, with its prediction options (--scheme, if given,
// overriding the one its family was fitted for), and the --data it
// predicts.
func subjectFromFlags(c *cli.Context) (evaluate.Subject, *snapshot.Set, error) {
	var s evaluate.Subject
	var set *snapshot.Set
	var err error
	switch path, truth := c.String("model"), c.String("truth"); {
	case path != "" && truth != "":
		return s, nil, fmt.Errorf("give either --model or --truth, not both")
	case path == "" && truth == "":
		return s, nil, fmt.Errorf("--model is required (or --truth P to score the true energy)")
	case truth != "":
		s, set, err = truthFromFlags(c)
	default:
		s, set, err = modelFromFlags(c)
	}
	if err != nil {
		return s, nil, err
	}
	return withScheme(c, s), set, nil
}

// modelFromFlags loads --model and reads --data, mapped by the model's
// transform (cellsForModel); it warns when the data's times are not the
// model's training times.
func modelFromFlags(c *cli.Context) (evaluate.Subject, *snapshot.Set, error) {
	path := c.String("model")
	raw, err := readCells(c)
	if err != nil {
		return evaluate.Subject{}, nil, err
	}
	f, err := modelfile.Load(path)
	if err != nil {
		return evaluate.Subject{}, nil, err
	}
	s, err := evaluate.FromFile(f, predictOptions(c))
	if err != nil {
		return s, nil, fmt.Errorf("%s: %w", path, err)
	}
	set, err := cellsForModel(c, raw, path, f)
	if err != nil {
		return s, nil, err
	}
	if f.Dim != set.D {
		return s, nil, fmt.Errorf("%s: the model is for d = %d but %s has d = %d", path, f.Dim, c.String("data"), set.D)
	}
	warnUntrainedTimes(c, set, path, f)
	return s, set, nil
}

// warnUntrainedTimes warns, in one line, when the times of the cells of
// --data are not the times the model in path was trained at (predict, eval
// and plot).
func warnUntrainedTimes(c *cli.Context, set *snapshot.Set, path string, f *modelfile.File) {
	if extra := untrainedTimes(set.Times(), f.Times); len(extra) > 0 {
		fmt.Fprintf(c.App.ErrWriter, "warning: %s has times %s that %s was not trained at (it was at %s); τ and the time input come from the labels, so check --time-values\n", c.String("data"), listed(extra), path, listed(f.Times))
	}
}

// truthFromFlags reads --data, mapped by the transform flags, and builds
// the true energy of --truth (with --interaction, --beta, --dt): the
// oracle, which steps explicitly.
func truthFromFlags(c *cli.Context) (evaluate.Subject, *snapshot.Set, error) {
	set, err := loadData(c)
	if err != nil {
		return evaluate.Subject{}, nil, err
	}
	t, err := evaluate.TrueEnergy(c.String("truth"), c.String("interaction"), c.Float64("beta"), c.Float64("dt"), set)
	if err != nil {
		return evaluate.Subject{}, nil, err
	}
	return evaluate.Subject{Model: t, Options: predictOptions(c)}, set, nil
}

// predictOptions are the default prediction options with --seed.
func predictOptions(c *cli.Context) evaluate.PredictOptions {
	opts := evaluate.DefaultPredictOptions()
	opts.Seed = c.Uint64("seed")
	return opts
}

// withScheme is s stepping with --scheme, when given.
func withScheme(c *cli.Context, s evaluate.Subject) evaluate.Subject {
	if scheme := c.String("scheme"); scheme != "" {
		s.Options.Scheme = scheme
	}
	return s
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
