package main

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/eval/simulate"
	"github.com/jkonet-gpu/jkonet-gpu/internal/atomicfile"
	"github.com/jkonet-gpu/jkonet-gpu/internal/progress"
	"github.com/jkonet-gpu/jkonet-gpu/models/zoo"
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

// generateMeta is the meta JSON stored in generated files, so that --truth
// needs no repeated flags.
type generateMeta struct {
	Potential   string  `json:"potential"`
	Interaction string  `json:"interaction,omitempty"`
	Beta        float64 `json:"beta"`
	Seed        uint64  `json:"seed"`
	Dim         int     `json:"dim"`
	Particles   int     `json:"particles"`
	Steps       int     `json:"steps"`
	DT          float64 `json:"dt"`
	// Folded is, per step, the fraction of particles whose drift step folds
	// space (simulate.Result.Folded).
	Folded []float64 `json:"folded"`
}

// foldWarning is the share of folding particles above which generate warns.
const foldWarning = 0.01

func generate(c *cli.Context) error {
	meta := generateMeta{
		Potential: c.String("potential"), Interaction: c.String("interaction"),
		Beta: c.Float64("beta"), Seed: c.Uint64("seed"), Dim: c.Int("dim"),
		Particles: c.Int("particles"), Steps: c.Int("steps"), DT: c.Float64("dt"),
	}
	cfg := simulate.Config{Beta: meta.Beta, Dim: meta.Dim, Particles: meta.Particles, Steps: meta.Steps, DT: meta.DT, Seed: meta.Seed}
	var err error
	if cfg.Potential, err = zoo.Get(meta.Potential); err != nil {
		return fmt.Errorf("--potential: %w", err)
	}
	if meta.Interaction != "" {
		if cfg.Interaction, err = zoo.Get(meta.Interaction); err != nil {
			return fmt.Errorf("--interaction: %w", err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("--%w", err)
	}
	out := c.String("out")
	if err := atomicfile.CheckWritable(out); err != nil {
		return err
	}
	bar := progress.New("generate: step", cfg.Steps, c.Bool("quiet"))
	cfg.OnStep = func(done int) { bar.Update(done, "") }
	res, err := simulate.Run(cfg)
	bar.Done()
	if err != nil {
		return err
	}
	meta.Folded = res.Folded
	if worst := slices.Max(res.Folded); worst > foldWarning {
		fmt.Fprintf(c.App.ErrWriter, "warning: at step %d the drift moves %.0f%% of particles past a neighbour (the step folds space); "+
			"no JKO step does that, so JKOnet* cannot fit these data exactly and OT couplings will not follow the trajectories; a smaller --dt avoids it\n",
			slices.Index(res.Folded, worst)+1, 100*worst)
	}
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	set := snapshot.FromTrajectories(res.X, cfg.Dim)
	set.DT, set.Meta = cfg.DT, metaJSON
	if err := set.Save(out); err != nil {
		return err
	}
	if !c.Bool("quiet") {
		fmt.Fprintf(c.App.Writer, "wrote %s: %d snapshots of %d particles in d = %d\n", out, len(res.X), cfg.Particles, cfg.Dim)
	}
	return nil
}
