package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/jkonet-gpu/jkonet-gpu/eval/simulate"
)

var generateCommand = &cli.Command{
	Name:  "generate",
	Usage: "simulate particles driven by zoo energies and write their snapshots",
	Description: `Particles start uniform on [-4, 4]^d and take --steps explicit Euler–Maruyama steps
   x ← x − dt·∇V(x) − dt·mean_j ∇W(x − x_j) + √(2β·dt)·ξ
of the potential V (--potential), the interaction kernel W (--interaction) and diffusion β (--beta).
Snapshot k has time label k. The file stores x, t, id, dt and a meta JSON of the settings.`,
	Flags: []cli.Flag{
		potentialFlag, interactionFlag, betaFlag,
		&cli.IntFlag{Name: "dim", Usage: "dimension d", Value: 2},
		&cli.IntFlag{Name: "particles", Usage: "number of particles N", Value: 2000},
		&cli.IntFlag{Name: "steps", Usage: "number of steps T (T+1 snapshots)", Value: 5},
		dtFlag, seedFlag, outFlag, quietFlag,
	},
	Action: generate,
}

func generate(c *cli.Context) error {
	spec := simulate.Spec{
		Potential: c.String("potential"), Interaction: c.String("interaction"),
		Beta: c.Float64("beta"), Seed: c.Uint64("seed"), Dim: c.Int("dim"),
		Particles: c.Int("particles"), Steps: c.Int("steps"), DT: c.Float64("dt"),
	}
	if _, err := spec.Config(); err != nil {
		return fmt.Errorf("--%w", err)
	}
	out := c.String("out")
	if err := checkOutputs(c, []string{"out"}); err != nil {
		return err
	}
	set, warning, err := simulate.Generate(spec, c.Bool("quiet"))
	if err != nil {
		return err
	}
	if warning != "" {
		fmt.Fprintln(c.App.ErrWriter, warning)
	}
	if err := set.Save(out); err != nil {
		return err
	}
	if !c.Bool("quiet") {
		fmt.Fprintf(c.App.Writer, "wrote %s: %d snapshots of %d particles in d = %d\n", out, len(set.Times()), spec.Particles, spec.Dim)
	}
	return nil
}
