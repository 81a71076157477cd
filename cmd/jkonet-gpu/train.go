package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/engine/collective"
	"github.com/jkonet-gpu/jkonet-gpu/engine/launch"
	"github.com/jkonet-gpu/jkonet-gpu/models"
	"github.com/jkonet-gpu/jkonet-gpu/models/modelfile"
)

// collectiveFlag is --collective: what sums the ranks' gradients
// (README "Data-parallel training").
var collectiveFlag = &cli.StringFlag{Name: "collective", Value: collective.Auto,
	Usage: "what sums the gradients of the ranks a launcher started: auto (nccl on GPUs, mpi under mpirun, none for one process), none, mpi or nccl"}

// modelKinds lists every --model value: the registered model families.
var modelKinds = models.FamilyNames()

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
		&cli.IntFlag{Name: "interaction-samples", Usage: "size of each of the two interaction subsamples per pair; 0: the exact mean over the target snapshot", DefaultText: "exact on a GPU where it fits, " + fmt.Sprint(engine.DefaultCPUSamples) + " stratified on the CPU (exact up to " + fmt.Sprint(2*engine.DefaultCPUSamples) + " target points)"},
		deviceFlag, precisionFlag, collectiveFlag,
		&cli.DurationFlag{Name: "collective-timeout", Value: collective.DefaultTimeout,
			Usage: "how long a rank waits for the others in one sum (under NCCL: for an epoch's queued sums) before it decides one died or hung, aborts and exits with one line (0: forever)"},
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
	if _, err := models.LookupFamily(kind); err != nil { // before any data is read
		return fmt.Errorf("--model: %w", err)
	}
	topo, err := launch.FromOS()
	if err != nil {
		return err
	}
	if err := checkTrainOutputs(c, checkpointPath(c)); err != nil {
		return err
	}
	// SIGTERM is what a scheduler sends before it kills a job: checkpoint
	// and stop, as on Ctrl-C (after the same step on every rank); before
	// training, while reading or coupling, stop with one line and nothing
	// written.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	set, err := loadDataFor(c)
	if err != nil {
		return err
	}
	job, err := trainJob(c, kind, set, topo)
	if err != nil {
		return err
	}
	res, err := engine.Run(ctx, job)
	if err != nil || !res.Writer { // rank 0 writes the model and reports
		return err
	}
	return writeModel(c, res)
}

// trainJob turns the training flags into an engine.Job on set.
func trainJob(c *cli.Context, kind string, set *snapshot.Set, topo launch.Topology) (engine.Job, error) {
	s := engine.DefaultSettings()
	s.Epochs, s.BatchSize, s.LR = c.Int("epochs"), c.Int("batch-size"), c.Float64("lr")
	s.Seed, s.Precision = c.Uint64("seed"), c.String("precision")
	if c.IsSet("interaction-samples") {
		if s.Samples = c.Int("interaction-samples"); s.Samples < 0 {
			return engine.Job{}, fmt.Errorf("--interaction-samples: expected ≥ 0 (0: exact), got %d", s.Samples)
		}
	}
	transform, err := recordedTransform(c.String("data"), set)
	if err != nil {
		return engine.Job{}, err
	}
	timeout := c.Duration("collective-timeout")
	if timeout < 0 {
		return engine.Job{}, fmt.Errorf("--collective-timeout: expected a duration ≥ 0 (0: no timeout), got %s", timeout)
	}
	ckpt := checkpointPath(c)
	couplingOpts, err := couplingOptions(c)
	if err != nil {
		return engine.Job{}, err
	}
	return engine.Job{
		Data: set, DataPath: c.String("data"), Transform: transform, Model: kind, Settings: s,
		Device: c.String("device"), Collective: c.String("collective"), Topology: topo, CollectiveTimeout: timeout,
		Couplings: c.String("couplings"), CouplingOptions: couplingOpts,
		Resume: c.String("resume"), Checkpoint: ckpt, CheckpointEvery: c.Int("checkpoint-every"),
		LogJSON: c.String("log-json"), Stdout: c.App.Writer, Notes: c.App.ErrWriter, Quiet: c.Bool("quiet"),
		// The line of an interrupted run goes out before MPI_Finalize,
		// which an mpirun ending the job may not let return (main does
		// not print it again).
		Report: func(err error) { fmt.Fprintf(c.App.ErrWriter, "jkonet-gpu: %v\n", err) },
	}, nil
}

// checkpointPath is --checkpoint, by default --out with .ckpt appended.
func checkpointPath(c *cli.Context) string {
	if ckpt := c.String("checkpoint"); ckpt != "" {
		return ckpt
	}
	return c.String("out") + ".ckpt"
}

// writeModel saves the trained model to --out and reports it.
func writeModel(c *cli.Context, res *engine.Result) error {
	out, rec := c.String("out"), res.Record
	if err := modelfile.Save(out, res.File); err != nil {
		return err
	}
	if rec.Beta < 0 {
		fmt.Fprintf(c.App.ErrWriter, "warning: the learned β is %.4g < 0; prediction uses |β|\n", rec.Beta)
	}
	if !c.Bool("quiet") {
		fmt.Fprintf(c.App.Writer, "wrote %s: %s model, d = %d, β = %.4g (model units), %.1f s\n", out, rec.Model, res.File.Dim, rec.Beta, rec.Seconds)
	}
	return nil
}
