package simulate

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/internal/progress"
	"github.com/jkonet-gpu/jkonet-gpu/models/zoo"
)

// Spec is a synthetic run with its energies named from the zoo: what
// `jkonet-gpu generate` takes, and the meta JSON a generated file stores,
// so that --truth needs no repeated flags.
type Spec struct {
	Potential   string  `json:"potential"`
	Interaction string  `json:"interaction,omitempty"`
	Beta        float64 `json:"beta"`
	Seed        uint64  `json:"seed"`
	Dim         int     `json:"dim"`
	Particles   int     `json:"particles"`
	Steps       int     `json:"steps"`
	DT          float64 `json:"dt"`
	// Folded is, per step, the fraction of particles whose drift step folds
	// space (Result.Folded); Generate fills it in.
	Folded []float64 `json:"folded"`
}

// FoldWarning is the share of folding particles above which Generate warns.
const FoldWarning = 0.01

// Config looks the energies up in the zoo and checks the run; an error
// names the field first, as the meta JSON and generate's flags do
// ("potential: …").
func (s Spec) Config() (Config, error) {
	c := Config{Beta: s.Beta, Dim: s.Dim, Particles: s.Particles, Steps: s.Steps, DT: s.DT, Seed: s.Seed}
	var err error
	if c.Potential, err = zoo.Get(s.Potential); err != nil {
		return c, fmt.Errorf("potential: %w", err)
	}
	if s.Interaction != "" {
		if c.Interaction, err = zoo.Get(s.Interaction); err != nil {
			return c, fmt.Errorf("interaction: %w", err)
		}
	}
	return c, c.Validate()
}

// Generate runs s, with a progress bar unless quiet, and returns its
// snapshots (time label k for step k) carrying dt and s, with the folded
// fractions, as Meta. warning is one line when a step folds space for more
// than FoldWarning of the particles, else "".
func Generate(s Spec, quiet bool) (set *snapshot.Set, warning string, err error) {
	cfg, err := s.Config()
	if err != nil {
		return nil, "", err
	}
	bar := progress.New("generate: step", cfg.Steps, quiet)
	cfg.OnStep = func(done int) { bar.Update(done, "") }
	res, err := Run(cfg)
	bar.Done()
	if err != nil {
		return nil, "", err
	}
	s.Folded = res.Folded
	if worst := slices.Max(res.Folded); worst > FoldWarning {
		warning = fmt.Sprintf("warning: at step %d the drift moves %.0f%% of particles past a neighbour (the step folds space); "+
			"no JKO step does that, so JKOnet* cannot fit these data exactly and OT couplings will not follow the trajectories; a smaller --dt avoids it",
			slices.Index(res.Folded, worst)+1, 100*worst)
	}
	meta, err := json.Marshal(s)
	if err != nil {
		return nil, "", err
	}
	set = snapshot.FromTrajectories(res.X, cfg.Dim)
	set.DT, set.Meta = cfg.DT, meta
	return set, warning, nil
}
