package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/jkonet-gpu/jkonet-gpu/data/cells"
	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/engine"
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
	deviceFlag      = &cli.StringFlag{Name: "device", Usage: engine.DeviceUsage(), Value: "auto"}
	precisionFlag   = &cli.StringFlag{Name: "precision", Usage: engine.PrecisionUsage()}
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
	normalizeFlag   = &cli.BoolFlag{Name: "normalize", Usage: "raw counts: scale each cell to the training cells' median total, then log1p (scanpy's normalize_total and log1p; before --dims and --pca)"}
	dimsFlag        = &cli.IntFlag{Name: "dims", Usage: "keep the first k columns (before --pca)"}
	pcaFlag         = &cli.IntFlag{Name: "pca", Usage: "project on the first k principal components of the training cells (after --dims)"}
	standardizeFlag = &cli.BoolFlag{Name: "standardize", Usage: "z-score each column (after --dims and --pca) with the training cells' mean and std"}

	cellFlags      = []cli.Flag{timeKeyFlag, timeOrderFlag, timeValuesFlag, obsmFlag, layerFlag, xKeyFlag}
	transformFlags = []cli.Flag{normalizeFlag, dimsFlag, pcaFlag, standardizeFlag}
)

// readOptions are the cell flags (cellFlags, transformFlags, --time-col)
// as the options of cells.Read and cells.Load.
func readOptions(c *cli.Context) (cells.ReadOptions, error) {
	opts := cells.ReadOptions{
		TimeCol: c.String("time-col"), TimeKey: c.String("time-key"), XKey: c.String("x-key"),
		Obsm: c.String("obsm"), Layer: c.String("layer"),
		Transform: transformOptions(c), Given: c.IsSet,
		Note: func(s string) { fmt.Fprintf(c.App.ErrWriter, "note: %s\n", s) },
		// train and preprocess refuse wide raw cells
		Training: c.Command.Name == "train" || c.Command.Name == "preprocess",
	}
	if c.IsSet("time-order") {
		opts.TimeOrder = cells.ParseTimeOrder(c.String("time-order"))
	}
	if c.IsSet("time-values") {
		values, err := cells.ParseTimeValues(c.String("time-values"))
		if err != nil {
			return opts, err
		}
		opts.TimeValues = values
	}
	return opts, nil
}

// transformOptions are the --dims, --pca and --standardize flags. A
// randomized PCA always draws with seed 0, so every command fits the same
// basis on the same cells whatever its --seed.
func transformOptions(c *cli.Context) cells.Options {
	return cells.Options{Normalize: c.Bool("normalize"), Dims: c.Int("dims"), PCA: c.Int("pca"), Standardize: c.Bool("standardize")}
}

// readCells reads --data as it is stored (cells.Read with the cell flags).
func readCells(c *cli.Context) (*snapshot.Set, error) {
	opts, err := readOptions(c)
	if err != nil {
		return nil, err
	}
	return cells.Read(c.String("data"), opts)
}

// loadData reads --data and, with --dims, --pca or --standardize, fits the
// transform on these cells and applies it (cells.Load); the result records
// the transform in its meta (docs/formats.md §1).
func loadData(c *cli.Context) (*snapshot.Set, error) {
	opts, err := readOptions(c)
	if err != nil {
		return nil, err
	}
	return cells.Load(c.String("data"), opts)
}

// recordedTransform is the transform a prepared file's meta records (nil
// for raw cells), checked against the file's dimension.
func recordedTransform(path string, set *snapshot.Set) (*cells.Transform, error) {
	return cells.Recorded(path, set)
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
// recorded in source (cells.MapRecorded): explicit --dims, --pca or
// --standardize must name t, as nothing is fitted on held-out cells.
func mapRecorded(c *cli.Context, set *snapshot.Set, source string, t *cells.Transform) (*snapshot.Set, error) {
	return cells.MapRecorded(c.String("data"), set, source, t, transformOptions(c))
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

// loadDataFor checks that --out can be written, and is not --data, before
// any long work, then reads --data.
func loadDataFor(c *cli.Context) (*snapshot.Set, error) {
	if err := checkOutputs(c, []string{"out"}, "data"); err != nil {
		return nil, err
	}
	return loadData(c)
}
