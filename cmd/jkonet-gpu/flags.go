package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/jkonet-gpu/jkonet-gpu/data/cells"
	"github.com/jkonet-gpu/jkonet-gpu/data/h5ad"
	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/internal/atomicfile"
	"github.com/jkonet-gpu/jkonet-gpu/models/modelfile"
	"github.com/jkonet-gpu/jkonet-gpu/models/zoo"
)

// Flags shared by several commands are declared once here.
var (
	dataFlag        = &cli.StringFlag{Name: "data", Usage: "snapshot file (.npz, .csv or AnnData .h5ad)", Required: true}
	outFlag         = &cli.StringFlag{Name: "out", Usage: "output file", Required: true}
	seedFlag        = &cli.Uint64Flag{Name: "seed", Usage: "random seed", Value: 0}
	quietFlag       = &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress output"}
	jsonFlag        = &cli.BoolFlag{Name: "json", Usage: "print the result as JSON"}
	timeColFlag     = &cli.StringFlag{Name: "time-col", Usage: "CSV input: name of the time column", Value: "t"}
	potentialFlag   = &cli.StringFlag{Name: "potential", Usage: "zoo potential V (one of: " + zooList + ")", Required: true}
	interactionFlag = &cli.StringFlag{Name: "interaction", Usage: "zoo interaction kernel W (default none)"}
	betaFlag        = &cli.Float64Flag{Name: "beta", Usage: "diffusion coefficient β ≥ 0", Value: 0}
	dtFlag          = &cli.Float64Flag{Name: "dt", Usage: "time step of the simulation", Value: 0.01}
	deviceFlag      = &cli.StringFlag{Name: "device", Usage: "where to train: " + strings.Join(append([]string{"auto"}, engine.Backends()...), ", ") + " (auto: CUDA when a GPU answers, else the CPU)", Value: "auto"}
	precisionFlag   = &cli.StringFlag{Name: "precision", Usage: "float32 or float64 (default: float32 on a GPU; the CPU computes in float64)"}
)

// zooList names the zoo functions for flag help.
var zooList = strings.Join(zoo.Names(), ", ")

// Cells: how --data is read (cellFlags: AnnData keys, real times) and the
// transform fitted on the training cells (transformFlags), on every command
// that reads cells. README "Single-cell time courses" says what each does.
var (
	timeKeyFlag     = &cli.StringFlag{Name: "time-key", Usage: "h5ad input: the obs column holding each cell's time (numeric; categorical, in category order; strings with --time-order); NPZ input: the array of time labels (default t)"}
	xKeyFlag        = &cli.StringFlag{Name: "x-key", Usage: "NPZ input: the array of points (default x), e.g. X of files written by other tools"}
	timeOrderFlag   = &cli.StringFlag{Name: "time-order", Usage: "h5ad input: the order of the --time-key values when they are strings, e.g. d0,d1,d3"}
	timeValuesFlag  = &cli.StringFlag{Name: "time-values", Usage: "the real time of each time label, e.g. 0d=0,8h=0.333,1d=1 (numeric labels as written by %g: 0.5, 1e-05)"}
	obsmFlag        = &cli.StringFlag{Name: "obsm", Usage: "h5ad input: take the coordinates from this obsm matrix (e.g. X_pca, X_umap) instead of X"}
	layerFlag       = &cli.StringFlag{Name: "layer", Usage: "h5ad input: take the coordinates from this layer instead of X"}
	dimsFlag        = &cli.IntFlag{Name: "dims", Usage: "keep the first k columns (before --pca)"}
	pcaFlag         = &cli.IntFlag{Name: "pca", Usage: "project on the first k principal components of the training cells (after --dims)"}
	standardizeFlag = &cli.BoolFlag{Name: "standardize", Usage: "z-score each column (after --dims and --pca) with the training cells' mean and std"}

	cellFlags      = []cli.Flag{timeKeyFlag, timeOrderFlag, timeValuesFlag, obsmFlag, layerFlag, xKeyFlag}
	transformFlags = []cli.Flag{dimsFlag, pcaFlag, standardizeFlag}
)

// h5adOnly are the cell flags that only AnnData input takes.
var h5adOnly = []string{"time-order", "obsm", "layer"}

// readCells reads --data as it is stored: AnnData by h5ad.Load with the
// cell flags; NPZ and CSV by snapshot.Load, with --time-values mapping their
// numeric labels to real times, and the AnnData-only flags refused.
func readCells(c *cli.Context) (*snapshot.Set, error) {
	path := c.String("data")
	var values map[string]float64
	if c.IsSet("time-values") {
		v, err := cells.ParseTimeValues(c.String("time-values"))
		if err != nil {
			return nil, err
		}
		values = v
	}
	if strings.EqualFold(filepath.Ext(path), ".h5ad") {
		if c.IsSet("time-col") {
			return nil, fmt.Errorf("%s: --time-col is for CSV input; name the obs column of an h5ad file with --time-key", path)
		}
		if c.IsSet("x-key") {
			return nil, fmt.Errorf("%s: --x-key is for NPZ input; take an h5ad file's coordinates from --obsm or --layer", path)
		}
		var order []string
		if c.IsSet("time-order") {
			for label := range strings.SplitSeq(c.String("time-order"), ",") {
				order = append(order, strings.TrimSpace(label))
			}
		}
		set, err := h5ad.Load(path, h5ad.Options{
			TimeKey: c.String("time-key"), TimeOrder: order, TimeValues: values,
			Obsm: c.String("obsm"), Layer: c.String("layer"),
		})
		if err != nil && !c.IsSet("time-key") {
			return nil, fmt.Errorf("%w; name it with --time-key", err)
		}
		return set, err
	}
	for _, name := range h5adOnly {
		if c.IsSet(name) {
			return nil, fmt.Errorf("%s: --%s is for AnnData (.h5ad) input", path, name)
		}
	}
	if isCSV := strings.EqualFold(filepath.Ext(path), ".csv"); isCSV && (c.IsSet("time-key") || c.IsSet("x-key")) {
		return nil, fmt.Errorf("%s: --time-key and --x-key name NPZ arrays or h5ad keys; a CSV file's time column is --time-col", path)
	}
	set, err := snapshot.Load(path, snapshot.LoadOptions{TimeCol: c.String("time-col"), XKey: c.String("x-key"), TimeKey: c.String("time-key")})
	if err != nil || values == nil {
		return set, err
	}
	if err := cells.MapTimes(set, values); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := set.Validate(); err != nil {
		return nil, fmt.Errorf("%s: after --time-values: %w", path, err)
	}
	return set, nil
}

// transformOptions are the --dims, --pca and --standardize flags. A
// randomized PCA always draws with seed 0, so every command fits the same
// basis on the same cells whatever its --seed.
func transformOptions(c *cli.Context) cells.Options {
	return cells.Options{Dims: c.Int("dims"), PCA: c.Int("pca"), Standardize: c.Bool("standardize")}
}

// loadData reads --data (readCells) and, with --dims, --pca or
// --standardize, fits the transform on these cells and applies it; the
// result records the transform in its meta (docs/formats.md §1).
func loadData(c *cli.Context) (*snapshot.Set, error) {
	set, err := readCells(c)
	if err != nil {
		return nil, err
	}
	path := c.String("data")
	prior, err := recordedTransform(path, set)
	if err != nil {
		return nil, err
	}
	opts := transformOptions(c)
	if opts.IsZero() {
		return set, nil
	}
	if prior != nil {
		return nil, fmt.Errorf("%s: the cells are already transformed (%s, recorded in its meta); give the raw cells or drop %s", path, prior.Options(), opts)
	}
	t, err := cells.Fit(set, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if set, err = t.Apply(set); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return set, nil
}

// recordedTransform is the transform a prepared file's meta records (nil
// for raw cells), checked against the file's dimension.
func recordedTransform(path string, set *snapshot.Set) (*cells.Transform, error) {
	t, err := cells.FromMeta(set.Meta)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if t != nil && t.OutputDim() != set.D {
		return nil, fmt.Errorf(`%s: field "meta": the recorded transform gives d = %d, but x has d = %d`, path, t.OutputDim(), set.D)
	}
	return t, nil
}

// modelTransform is the transform a model was trained with (its training
// record's "transform"; nil: none), checked against the model's dimension.
func modelTransform(path string, f *modelfile.File) (*cells.Transform, error) {
	rec, err := f.Record(path)
	if err != nil || rec == nil || rec.Transform == nil {
		return nil, err
	}
	t := rec.Transform
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("%s: metadata \"training\": %w", path, err)
	}
	if t.OutputDim() != f.Dim {
		return nil, fmt.Errorf("%s: metadata \"training\": the transform gives d = %d, but the model is for d = %d", path, t.OutputDim(), f.Dim)
	}
	return t, nil
}

// cellsForModel maps the cells read from --data (readCells) into the
// coordinates of the model in modelPath (mapRecorded with its transform).
func cellsForModel(c *cli.Context, set *snapshot.Set, modelPath string, f *modelfile.File) (*snapshot.Set, error) {
	trained, err := modelTransform(modelPath, f)
	if err != nil {
		return nil, err
	}
	return mapRecorded(c, set, modelPath, trained)
}

// mapRecorded maps the cells read from --data with the transform t
// recorded in source (a model or a prepared file; nil: none): raw cells get
// t; cells that record a transform must record t itself. Explicit --dims,
// --pca or --standardize must name t: nothing is fitted on held-out cells.
func mapRecorded(c *cli.Context, set *snapshot.Set, source string, t *cells.Transform) (*snapshot.Set, error) {
	have := cells.Options{}
	if t != nil {
		have = t.Options()
	}
	if asked := transformOptions(c); !asked.IsZero() && asked != have {
		return nil, fmt.Errorf("%s: records %s, not %s; drop the flags (the recorded transform is applied to raw cells)", source, have, asked)
	}
	path := c.String("data")
	recorded, err := recordedTransform(path, set)
	if err != nil {
		return nil, err
	}
	switch {
	case recorded != nil && !cells.Equal(recorded, t):
		return nil, fmt.Errorf("%s: the cells were transformed (%s) with other numbers than %s records (%s); give the raw cells", path, recorded.Options(), source, have)
	case recorded == nil && t != nil:
		out, err := t.Apply(set)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return out, nil
	}
	return set, nil
}

// loadDataWith reads --data for a command that uses the model file
// modelPath: mapped by the model's transform (cellsForModel), or by the
// transform flags (loadData) when modelPath is "".
func loadDataWith(c *cli.Context, modelPath string) (*snapshot.Set, error) {
	if modelPath == "" {
		return loadData(c)
	}
	set, err := readCells(c)
	if err != nil {
		return nil, err
	}
	f, err := modelfile.Load(modelPath)
	if err != nil {
		return nil, err
	}
	return cellsForModel(c, set, modelPath, f)
}

// loadDataFor checks that --out can be written before any long work, then
// reads --data.
func loadDataFor(c *cli.Context) (*snapshot.Set, error) {
	if err := atomicfile.CheckWritable(c.String("out")); err != nil {
		return nil, err
	}
	return loadData(c)
}
