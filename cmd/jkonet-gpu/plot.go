package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/eval/evaluate"
	"github.com/jkonet-gpu/jkonet-gpu/eval/figure"
	"github.com/jkonet-gpu/jkonet-gpu/internal/atomicfile"
	"github.com/jkonet-gpu/jkonet-gpu/models/modelfile"
)

var plotCommand = &cli.Command{
	Name:  "plot",
	Usage: "draw the potential's level curves with the cells coloured by time, the predictions and the training loss (PNG)",
	Description: `Draws, side by side: the learned potential V (at the last training time for
   time-potential) with the cells of --data as dots coloured by time (blue to red) and the
   model's one-step predictions from each observed snapshot as crosses in the colour of their
   time; with --truth P, the true V beside it; and the training loss per epoch when the model
   file records it. In d > 2 the plane is that of the data's first two principal components
   (--axes pca, the default) or of the first two coordinates (--axes dims); V is drawn on the
   plane with the other coordinates held at the data mean. At most ` + fmt.Sprint(figure.MaxDrawn) + ` cells a
   snapshot are drawn and predicted (every k-th row). Without --data, 2-D potentials only.`,
	Flags: slices.Concat([]cli.Flag{
		modelFlag,
		&cli.StringFlag{Name: "data", Usage: "snapshot file whose particles are drawn (.npz, .csv or .h5ad; mapped by the model's transform)"},
		timeColFlag, truthFlag, truthDT, schemeFlag, seedFlag,
		&cli.StringFlag{Name: "axes", Usage: "in d > 2: pca (the data's first two principal components) or dims (the first two coordinates)", Value: "pca"},
		outFlag,
	}, cellFlags, transformFlags),
	Action: plotAction,
}

func plotAction(c *cli.Context) error {
	out := c.String("out")
	if err := checkOutputs(c, []string{"out"}, "data", "model"); err != nil {
		return err
	}
	set, f, err := plotInputs(c)
	if err != nil {
		return err
	}
	plane, err := plotPlane(c, set)
	if err != nil {
		return err
	}
	fig := figure.Figure{Labels: plane.Labels, Observed: figure.Observed(set, plane)}
	if f != nil {
		panel, err := learnedPanel(c, f, set, plane)
		if err != nil {
			return err
		}
		fig.Panels = append(fig.Panels, panel)
		if fig.Losses, err = recordedLosses(f); err != nil {
			return fmt.Errorf("%s: %w", c.String("model"), err)
		}
	}
	if c.String("truth") != "" {
		panel, err := truthPanel(c, set, plane)
		if err != nil {
			return err
		}
		fig.Panels = append(fig.Panels, panel)
	}
	switch {
	case len(fig.Panels) == 0 && set == nil:
		return fmt.Errorf("give --model, --truth or --data")
	case len(fig.Panels) == 0:
		fig.Panels = []figure.Panel{{Title: "cells"}}
	}
	fig.Box = fig.Frame()
	return atomicfile.Write(out, func(w io.Writer) error {
		err := figure.WritePNG(w, fig)
		if err != nil && c.String("data") != "" {
			return fmt.Errorf("%s: %w", c.String("data"), err) // the region is the data's
		}
		return err
	})
}

// plotInputs reads --data (mapped by the model's transform, at most
// figure.MaxDrawn cells a snapshot) and --model, either of which may be
// absent (nil), and checks that they go together.
func plotInputs(c *cli.Context) (*snapshot.Set, *modelfile.File, error) {
	dataPath, modelPath := c.String("data"), c.String("model")
	var set *snapshot.Set
	if dataPath != "" {
		s, err := loadDataWith(c, modelPath)
		if err != nil {
			return nil, nil, err
		}
		set = thin(s, figure.MaxDrawn)
	}
	if modelPath == "" {
		return set, nil, nil
	}
	f, err := modelfile.Load(modelPath)
	if err != nil {
		return nil, nil, err
	}
	if set != nil && f.Dim != set.D {
		return nil, nil, fmt.Errorf("%s: the model is for d = %d but %s has d = %d", modelPath, f.Dim, dataPath, set.D)
	}
	if set != nil {
		warnUntrainedTimes(c, set, modelPath, f)
	}
	if set == nil && f.Dim != 2 {
		return nil, nil, fmt.Errorf("%s: without --data plot draws 2-D potentials only, the model has d = %d (with --data it draws the plane of the cells)", modelPath, f.Dim)
	}
	return set, f, nil
}

// plotPlane is the plane drawn: the coordinates in d = 2 (and without
// data); in d > 2 the data's first two principal components or, with
// --axes dims, the first two coordinates with the others at the data mean.
func plotPlane(c *cli.Context, set *snapshot.Set) (figure.Plane, error) {
	axes := c.String("axes")
	if axes != "pca" && axes != "dims" {
		return figure.Plane{}, fmt.Errorf("--axes: expected pca or dims, got %q", axes)
	}
	switch {
	case set == nil:
		return figure.CoordinatePlane(2, nil), nil
	case set.D < 2:
		return figure.Plane{}, fmt.Errorf("%s: plot draws data of d ≥ 2, got d = %d", c.String("data"), set.D)
	case set.D == 2 || axes == "dims":
		return figure.CoordinatePlane(set.D, figure.Mean(set.X, set.D)), nil
	}
	p, err := figure.PrincipalPlane(set.X, set.D)
	if err != nil {
		return p, fmt.Errorf("%s: %w", c.String("data"), err)
	}
	return p, nil
}

// learnedPanel is the model's potential on the plane and, with data of two
// times or more, its one-step predictions from each observed snapshot.
func learnedPanel(c *cli.Context, f *modelfile.File, set *snapshot.Set, plane figure.Plane) (figure.Panel, error) {
	s, err := evaluate.FromFile(f, predictOptions(c))
	if err != nil {
		return figure.Panel{}, fmt.Errorf("%s: %w", c.String("model"), err)
	}
	panel, err := figure.LearnedPanel(f, withScheme(c, s), set, plane, c.App.ErrWriter)
	if err != nil {
		return panel, fmt.Errorf("%s: %w", c.String("data"), err)
	}
	return panel, nil
}

// truthPanel is the true potential of --truth on the plane.
func truthPanel(c *cli.Context, set *snapshot.Set, plane figure.Plane) (figure.Panel, error) {
	name, ref := c.String("truth"), set
	if ref == nil {
		ref = &snapshot.Set{D: 2}
	}
	t, err := evaluate.TrueEnergy(name, "", 0, c.Float64("dt"), ref)
	if err != nil {
		return figure.Panel{}, err
	}
	return figure.Panel{Title: "true V (" + name + ")", V: plane.OnPlane(t.PotentialAt(0))}, nil
}

// recordedLosses is the loss per epoch that train records in the model
// file (none for linear models and files written before it did).
func recordedLosses(f *modelfile.File) ([]float64, error) {
	if len(f.Training) == 0 {
		return nil, nil
	}
	var rec struct {
		Losses []float64 `json:"losses"`
	}
	if err := json.Unmarshal(f.Training, &rec); err != nil {
		return nil, fmt.Errorf("metadata \"training\": %w", err)
	}
	return rec.Losses, nil
}

// thin keeps at most most rows of each snapshot: every ⌈n/most⌉-th.
func thin(set *snapshot.Set, most int) *snapshot.Set {
	out := &snapshot.Set{D: set.D, DT: set.DT, Meta: set.Meta}
	for _, s := range set.Snapshots() {
		stride := (s.Len() + most - 1) / most
		for r := 0; r < s.Len(); r += stride {
			out.X = append(out.X, s.X[r*set.D:(r+1)*set.D]...)
			out.T = append(out.T, s.Time)
			if s.ID != nil {
				out.ID = append(out.ID, s.ID[r])
			}
		}
	}
	return out
}
