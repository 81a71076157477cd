package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/engine/cuda"
	"github.com/jkonet-gpu/jkonet-gpu/engine/launch"
	"github.com/jkonet-gpu/jkonet-gpu/internal/progress"
	"github.com/jkonet-gpu/jkonet-gpu/models/linear"
	"github.com/jkonet-gpu/jkonet-gpu/models/modelfile"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
	"github.com/jkonet-gpu/jkonet-gpu/ot/couplings"
)

// modelKinds lists every --model value.
var modelKinds = append(networks.Kinds(), linear.Kind, linear.PotentialKind)

var trainCommand = &cli.Command{
	Name:  "train",
	Usage: "learn the energy from snapshots (JKOnet*)",
	Description: `Couples consecutive snapshots by optimal transport (or reads --couplings), then fits the
   model by least squares on the residual of the JKO step's optimality condition. Network
   models train with Adam; linear models are solved in closed form. The learned β is
   reported but is not identifiable when V is free (see README).`,
	Flags: slices.Concat([]cli.Flag{
		dataFlag, timeColFlag, outFlag,
		&cli.StringFlag{Name: "model", Usage: "one of: " + strings.Join(modelKinds, ", "), Value: "jkonet-star"},
		&cli.StringFlag{Name: "couplings", Usage: "couplings file from preprocess; computed and written there if it does not exist"},
		&cli.IntFlag{Name: "epochs", Usage: "passes over all coupling pairs", Value: engine.DefaultSettings().Epochs},
		&cli.IntFlag{Name: "batch-size", Usage: "pairs per step", Value: engine.DefaultSettings().BatchSize},
		&cli.Float64Flag{Name: "lr", Usage: "Adam learning rate", Value: engine.DefaultSettings().LR},
		&cli.IntFlag{Name: "interaction-samples", Usage: "size of each of the two interaction subsamples per pair; 0: the exact mean over the target snapshot (default: exact on a GPU where it fits, " + fmt.Sprint(engine.DefaultCPUSamples) + " on the CPU)"},
		deviceFlag, precisionFlag, collectiveFlag,
		&cli.StringFlag{Name: "checkpoint", Usage: "checkpoint file (default: --out with .ckpt appended)"},
		&cli.IntFlag{Name: "checkpoint-every", Usage: "write a checkpoint every this many epochs and at the end (0: only on interrupt)", Value: 100},
		&cli.StringFlag{Name: "resume", Usage: "continue from this checkpoint (same data and settings)"},
		&cli.StringFlag{Name: "log-json", Usage: "write one JSON line per epoch to this file (- for stdout)"},
		seedFlag, quietFlag,
	}, couplingFlags, cellFlags, transformFlags),
	Action: train,
}

func train(c *cli.Context) error {
	kind := c.String("model")
	if !slices.Contains(modelKinds, kind) {
		return fmt.Errorf("--model: unknown model %q (expected one of: %s)", kind, strings.Join(modelKinds, ", "))
	}
	out := c.String("out")
	topo, err := launch.FromOS()
	if err != nil {
		return err
	}
	set, err := loadDataFor(c)
	if err != nil {
		return err
	}
	if len(set.Times()) < 2 {
		return fmt.Errorf("%s: training needs at least 2 snapshot times, got %d", c.String("data"), len(set.Times()))
	}
	isLinear := kind == linear.Kind || kind == linear.PotentialKind
	if isLinear && set.D > linear.MaxDim {
		return fmt.Errorf("%s: linear models support d ≤ %d (the feature grid has 10^d bumps); the data have d = %d", c.String("data"), linear.MaxDim, set.D)
	}
	// A checkpoint of another model is refused before the couplings are
	// computed.
	var ckpt *modelfile.File
	if path := c.String("resume"); path != "" {
		if ckpt, err = loadCheckpoint(path, kind, set.D); err != nil {
			return err
		}
	}
	cp, err := trainingCouplings(c, set, topo)
	if err != nil {
		return err
	}
	problem, err := engine.NewProblem(cp, set)
	if err != nil {
		if path := c.String("couplings"); path != "" {
			return fmt.Errorf("%s: %s: %w", path, c.String("data"), err)
		}
		return fmt.Errorf("%s: %w", c.String("data"), err)
	}
	rec := modelfile.TrainingRecord{Model: kind, Data: c.String("data"), Seed: c.Uint64("seed"), Coupling: c.String("coupling"), Couplings: cp.Provenance}
	if rec.Transform, err = recordedTransform(c.String("data"), set); err != nil {
		return err
	}
	if cp.Provenance != nil {
		rec.DataSHA256 = cp.Provenance.Data // checked equal to set.Hash()
	} else {
		rec.DataSHA256 = set.Hash()
	}
	start := time.Now()
	var f *modelfile.File
	if isLinear {
		f, err = trainLinear(kind, problem)
	} else {
		f, err = trainNet(c, kind, problem, &rec, ckpt, topo)
	}
	if err != nil {
		return err
	}
	m, err := f.Model()
	if err != nil {
		return err
	}
	rec.Beta, rec.Seconds = m.Beta(), time.Since(start).Seconds()
	if topo.Rank != 0 { // rank 0 writes the model and reports
		return nil
	}
	if f.Training, err = rec.Encode(); err != nil {
		return err
	}
	if err := modelfile.Save(out, f); err != nil {
		return err
	}
	if rec.Beta < 0 {
		fmt.Fprintf(c.App.ErrWriter, "warning: the learned β is %.4g < 0; prediction uses |β|\n", rec.Beta)
	}
	if !c.Bool("quiet") {
		fmt.Fprintf(c.App.Writer, "wrote %s: %s model, d = %d, β = %.4g (model units), %.1f s\n", out, kind, f.Dim, rec.Beta, rec.Seconds)
	}
	return nil
}

// trainingCouplings reads --couplings if the file exists, else computes the
// couplings and, if --couplings names a file, caches them there. A cached
// file computed from other data or with other options is refused; one
// without a provenance record (written by another tool) is used with a
// warning, since nothing can be checked.
func trainingCouplings(c *cli.Context, set *snapshot.Set, topo launch.Topology) (*couplings.Couplings, error) {
	path := c.String("couplings")
	opts := couplingOptions(c)
	if path != "" {
		if _, err := os.Stat(path); err == nil {
			cp, err := couplings.Load(path)
			if err != nil {
				return nil, err
			}
			if cp.D != set.D { // the plainer message, before the data's hash
				return nil, fmt.Errorf("%s: couplings in d = %d, but %s has d = %d", path, cp.D, c.String("data"), set.D)
			}
			if cp.Provenance == nil {
				fmt.Fprintf(c.App.ErrWriter, "warning: %s records no provenance; cannot check that it was computed from %s with these options\n", path, c.String("data"))
				return cp, nil
			}
			if err := cp.Provenance.Mismatch(&couplings.Provenance{Data: set.Hash(), Options: opts}); err != nil {
				return nil, fmt.Errorf("%s: %w, not from %s with these flags; delete it or name another --couplings file", path, err, c.String("data"))
			}
			return cp, nil
		}
	}
	cp, rep, err := computeCouplings(c, set)
	if err != nil {
		return nil, err
	}
	if topo.Rank != 0 { // every rank computes the same couplings; rank 0 reports and caches them
		return cp, nil
	}
	warnCouplings(c.App.ErrWriter, rep)
	if path != "" {
		if err := cp.Save(path); err != nil {
			return nil, err
		}
	}
	return cp, nil
}

func trainLinear(kind string, p *engine.Problem) (*modelfile.File, error) {
	c := p.Pairs
	pairs := &linear.Pairs{D: p.D, X: c.X, Y: c.Y, W: c.W, Tau: c.Tau, Score: c.Score, Sources: p.Populations[:len(p.Populations)-1]}
	for _, k := range c.K {
		pairs.K = append(pairs.K, int(k))
	}
	m, err := linear.Fit(kind, pairs, linear.DefaultRidge)
	if err != nil {
		return nil, err
	}
	return &modelfile.File{Kind: kind, Dim: p.D, Times: c.Times, MeanInterval: p.MeanInterval, Params: m.Theta()}, nil
}

func trainNet(c *cli.Context, kind string, p *engine.Problem, rec *modelfile.TrainingRecord, from *modelfile.File, topo launch.Topology) (result *modelfile.File, err error) {
	s := engine.DefaultSettings()
	s.Epochs, s.BatchSize, s.LR = c.Int("epochs"), c.Int("batch-size"), c.Float64("lr")
	s.Seed, s.Precision = c.Uint64("seed"), c.String("precision")
	if c.IsSet("interaction-samples") {
		if s.Samples = c.Int("interaction-samples"); s.Samples < 0 {
			return nil, fmt.Errorf("--interaction-samples: expected ≥ 0 (0: exact), got %d", s.Samples)
		}
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	net, err := networks.NewNet(kind, p.D, s.Seed)
	if err != nil {
		return nil, err
	}
	if net.HasInternal() && allZero(p.Pairs.Score) {
		s.Freeze = []string{"beta"}
		rec.FrozenBeta = true
		fmt.Fprintln(c.App.ErrWriter, "warning: every density score is 0 (every target point lies below the density clip); β is frozen at 0")
	}
	if topo.Size > 1 {
		cuda.ChooseDevice(topo.Device) // one GPU per rank of a node
	}
	reg, note, err := engine.Resolve(c.String("device"))
	if err != nil {
		return nil, err
	}
	if c.String("device") == "auto" && reg.Name != "cuda" && s.Precision == engine.Float32 {
		note += "; the CPU computes in float64"
		s.Precision = ""
	}
	if note != "" && !c.Bool("quiet") && topo.Rank == 0 {
		fmt.Fprintln(c.App.ErrWriter, note)
	}
	backend, err := reg.New(net, p.ForNet(net), s) // time-potential: ∇V at the source (docs/design.md §3.1)
	if err != nil {
		return nil, err
	}
	defer backend.Close()
	// SIGTERM is what a scheduler sends before it kills a job: checkpoint
	// and stop, as on Ctrl-C (after the same step on every rank).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	group, err := joinRanks(c, topo, backend, func() bool { return ctx.Err() != nil })
	if err != nil {
		return nil, err
	}
	defer group.close()
	rec.Collective, rec.Ranks = group.Name(), group.Size()
	if group.Size() > 1 && topo.Rank == 0 && !c.Bool("quiet") {
		fmt.Fprintf(c.App.ErrWriter, "data parallel: %d ranks, gradients summed by %s\n", group.Size(), group.Name())
	}
	s = backend.Settings()
	rec.Epochs, rec.BatchSize, rec.LR, rec.InteractionSamples, rec.Device, rec.Precision = s.Epochs, s.BatchSize, s.LR, s.Samples, reg.Name, s.Precision
	file := func(st *engine.State) *modelfile.File {
		return &modelfile.File{Kind: kind, Dim: p.D, Times: p.Pairs.Times, MeanInterval: p.MeanInterval, Params: st.Params}
	}
	ckpt := c.String("checkpoint")
	if ckpt == "" {
		ckpt = c.String("out") + ".ckpt"
	}
	saveCheckpoint := func() error {
		if topo.Rank != 0 {
			return nil
		}
		st, err := backend.State()
		if err != nil {
			return err
		}
		f := file(st)
		f.M, f.V, f.Steps = st.M, st.V, st.Steps
		if f.Training, err = rec.Encode(); err != nil {
			return err
		}
		return modelfile.Save(ckpt, f)
	}
	if from != nil {
		if err := resume(c.String("resume"), from, rec, backend); err != nil {
			return nil, err
		}
	}
	var logJSON io.Writer
	closeLog := func() error { return nil }
	if topo.Rank == 0 {
		if logJSON, closeLog, err = openLog(c); err != nil {
			return nil, err
		}
	}
	defer func() {
		if cerr := closeLog(); cerr != nil && err == nil {
			result, err = nil, fmt.Errorf("--log-json: %w", cerr)
		}
	}()
	bar := progress.New("epoch", s.Epochs, c.Bool("quiet") || topo.Rank != 0)
	start := time.Now()
	every := c.Int("checkpoint-every")
	obs := engine.Observer{OnEpoch: func(r engine.EpochReport, b engine.Backend) error {
		rec.FinalLoss = r.Loss
		rounded, _ := strconv.ParseFloat(strconv.FormatFloat(r.Loss, 'g', 4, 64), 64)
		rec.Losses = append(rec.Losses[:min(len(rec.Losses), r.Epoch-1)], rounded)
		var beta float64
		if net.HasInternal() {
			st, err := b.State()
			if err != nil {
				return err
			}
			copy(net.Params, st.Params) // for a device backend, the host copy is not live
			beta = net.Beta()
		}
		bar.Update(r.Epoch, fmt.Sprintf("loss %.4g", r.Loss))
		if logJSON != nil {
			line, err := json.Marshal(struct {
				engine.EpochReport
				Beta    float64 `json:"beta"`
				Seconds float64 `json:"seconds"`
			}{r, beta, time.Since(start).Seconds()})
			if err != nil {
				return fmt.Errorf("--log-json: epoch %d: %w", r.Epoch, err)
			}
			if _, err := fmt.Fprintf(logJSON, "%s\n", line); err != nil {
				return fmt.Errorf("--log-json: %w", err)
			}
		}
		if every > 0 && r.Epoch%every == 0 && r.Epoch < s.Epochs { // the last one is written after training
			return saveCheckpoint()
		}
		return nil
	}}
	err = engine.Train(ctx, backend, p, s, obs)
	bar.Done()
	if line := group.sumShare(time.Since(start)); line != "" && topo.Rank == 0 && !c.Bool("quiet") {
		fmt.Fprintln(c.App.ErrWriter, line)
	}
	if errors.Is(err, context.Canceled) {
		if cerr := saveCheckpoint(); cerr != nil {
			return nil, fmt.Errorf("interrupted, and the checkpoint failed: %w", cerr)
		}
		st, serr := backend.State()
		if serr != nil {
			return nil, serr
		}
		return nil, fmt.Errorf("interrupted after %d steps; checkpoint written to %s (continue with --resume %s)", st.Steps, ckpt, ckpt)
	}
	if err != nil {
		return nil, err
	}
	if every > 0 { // the final state, so --resume with more --epochs extends the run
		if err := saveCheckpoint(); err != nil {
			return nil, err
		}
	}
	st, err := backend.State()
	if err != nil {
		return nil, err
	}
	copy(net.Params, st.Params)
	return file(st), nil
}

// loadCheckpoint reads the --resume file and checks that it is a
// checkpoint of a kind model in dimension d.
func loadCheckpoint(path, kind string, d int) (*modelfile.File, error) {
	f, err := modelfile.Load(path)
	if err != nil {
		return nil, err
	}
	if f.M == nil {
		return nil, fmt.Errorf("%s: not a checkpoint (no optimiser state); --resume needs the .ckpt file", path)
	}
	if f.Kind != kind || f.Dim != d {
		return nil, fmt.Errorf("%s: checkpoint of a %s model in d = %d, but training a %s model in d = %d", path, f.Kind, f.Dim, kind, d)
	}
	return f, nil
}

// resume restores the backend from the checkpoint f (read from path),
// written with the same model, data and settings (only --epochs may grow).
func resume(path string, f *modelfile.File, rec *modelfile.TrainingRecord, b engine.Backend) error {
	var old modelfile.TrainingRecord
	if err := json.Unmarshal(f.Training, &old); err != nil {
		return fmt.Errorf("%s: metadata \"training\": %w", path, err)
	}
	for _, d := range []struct {
		flag      string
		was, want any
	}{{"--batch-size", old.BatchSize, rec.BatchSize}, {"--lr", old.LR, rec.LR}, {"--seed", old.Seed, rec.Seed},
		{"--interaction-samples", old.InteractionSamples, rec.InteractionSamples}, {"--coupling", old.Coupling, rec.Coupling},
		{"--precision", old.Precision, rec.Precision}} {
		if d.was != d.want {
			return fmt.Errorf("%s: the checkpoint was trained with %s %v, not %v; resume with the same settings", path, d.flag, d.was, d.want)
		}
	}
	// Checkpoints written before the record held hashes are resumed on the
	// flags alone.
	if old.DataSHA256 != "" && old.DataSHA256 != rec.DataSHA256 {
		return fmt.Errorf("%s: the checkpoint was trained on other data (sha256 %.12s…, %s has %.12s…); resume with the same data", path, old.DataSHA256, rec.Data, rec.DataSHA256)
	}
	if old.Couplings != nil && rec.Couplings != nil {
		if err := old.Couplings.Mismatch(rec.Couplings); err != nil {
			return fmt.Errorf("%s: the checkpoint's couplings were %w; resume with the same couplings", path, err)
		}
	}
	rec.Losses = old.Losses // the epochs before; training appends the rest
	return b.SetState(&engine.State{Params: f.Params, M: f.M, V: f.V, Steps: f.Steps})
}

// openLog opens the --log-json destination; the returned func closes it.
func openLog(c *cli.Context) (io.Writer, func() error, error) {
	none := func() error { return nil }
	switch path := c.String("log-json"); path {
	case "":
		return nil, none, nil
	case "-":
		return c.App.Writer, none, nil
	default:
		f, err := os.Create(path)
		if err != nil {
			return nil, nil, fmt.Errorf("--log-json: %w", err)
		}
		return f, f.Close, nil
	}
}

func allZero(v []float64) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}
