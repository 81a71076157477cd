package main

import (
	"fmt"
	"io"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/jkonet-gpu/jkonet-gpu/atomicfile"
	"github.com/jkonet-gpu/jkonet-gpu/figure"
	"github.com/jkonet-gpu/jkonet-gpu/modelfile"
	"github.com/jkonet-gpu/jkonet-gpu/snapshot"
)

var plotCommand = &cli.Command{
	Name:  "plot",
	Usage: "draw the level curves of a 2-D potential with the particles (PNG)",
	Description: `Draws the learned potential V (the last training time for time-potential) and, with
   --truth P, the true one beside it; --data adds the particles and sets the region.`,
	Flags: slices.Concat([]cli.Flag{
		modelFlag,
		&cli.StringFlag{Name: "data", Usage: "snapshot file whose particles are drawn (.npz, .csv or .h5ad; mapped by the model's transform)"},
		timeColFlag, truthFlag, truthDT, outFlag,
	}, cellFlags, transformFlags),
	Action: plotAction,
}

func plotAction(c *cli.Context) error {
	out := c.String("out")
	if err := atomicfile.CheckWritable(out); err != nil {
		return err
	}
	var particles []float64
	set := &snapshot.Set{D: 2}
	if c.String("data") != "" {
		s, err := loadDataWith(c, c.String("model"))
		if err != nil {
			return err
		}
		if s.D != 2 {
			return fmt.Errorf("%s: plot draws 2-D data, got d = %d", c.String("data"), s.D)
		}
		set, particles = s, s.X
	}
	var panels []figure.Panel
	if path := c.String("model"); path != "" {
		f, err := modelfile.Load(path)
		if err != nil {
			return err
		}
		if f.Dim != 2 {
			return fmt.Errorf("%s: plot draws 2-D potentials, the model has d = %d", path, f.Dim)
		}
		m, err := f.Model()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		last := (f.Times[len(f.Times)-1] - f.TimeOrigin()) / f.MeanInterval
		panels = append(panels, figure.Panel{Title: "learned V (" + f.Kind + ")", V: m.PotentialAt(last)})
	}
	if name := c.String("truth"); name != "" {
		t, err := truthModel(name, "", 0, c.Float64("dt"), set)
		if err != nil {
			return err
		}
		panels = append(panels, figure.Panel{Title: "true V (" + name + ")", V: t.PotentialAt(0)})
	}
	if len(panels) == 0 {
		return fmt.Errorf("give --model, --truth or both")
	}
	return atomicfile.Write(out, func(w io.Writer) error {
		err := figure.WritePNG(w, panels, figure.BoundingBox(particles), particles)
		if err != nil && c.String("data") != "" {
			return fmt.Errorf("%s: %w", c.String("data"), err) // the region is the data's
		}
		return err
	})
}
