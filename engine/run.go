package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jkonet-gpu/jkonet-gpu/data/cells"
	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/engine/launch"
	"github.com/jkonet-gpu/jkonet-gpu/internal/atomicfile"
	"github.com/jkonet-gpu/jkonet-gpu/internal/progress"
	"github.com/jkonet-gpu/jkonet-gpu/models"
	"github.com/jkonet-gpu/jkonet-gpu/models/modelfile"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
	"github.com/jkonet-gpu/jkonet-gpu/ot/couplings"
)

// Job is one training run as `jkonet-gpu train` describes it: the data,
// the model, the settings, where it runs and what it writes on the way.
type Job struct {
	Data      *snapshot.Set
	DataPath  string           // names the data in messages and the record
	Transform *cells.Transform // what mapped the raw cells into Data (nil: none), recorded in the model
	Model     string           // a model family, e.g. "jkonet-star"
	// Settings are the hyper-parameters; Samples may be SamplesAuto and
	// Precision "" (the backend's default). Freeze is set by Run.
	Settings Settings
	// Device is a registered backend or "auto"; Collective is
	// --collective (collective.Auto, None, MPI, NCCL).
	Device, Collective string
	Topology           launch.Topology
	// CollectiveTimeout bounds each wait for the other ranks
	// (--collective-timeout; 0: unbounded): see Watched.
	CollectiveTimeout time.Duration
	// Couplings is the couplings file: read if it exists (and checked
	// against the data and options), else written there after computing
	// them with CouplingOptions; "" computes them without caching.
	Couplings       string
	CouplingOptions couplings.Options
	// Resume is a checkpoint to continue from ("" starts afresh).
	Resume string
	// Checkpoint is where checkpoints go: every CheckpointEvery epochs and
	// at the end (0: only when interrupted).
	Checkpoint      string
	CheckpointEvery int
	// LogJSON is a file for one JSON line per epoch ("-": Stdout; "":
	// none), opened once the run is set up.
	LogJSON string
	// Stdout receives the "-" log; Notes one-line notes and warnings
	// (stderr; nil discards them). Quiet silences the notes and the
	// progress bar, not the warnings.
	Stdout, Notes io.Writer
	Quiet         bool
	// Report, when set, is given the error of an interrupted run as soon
	// as the checkpoint is written, before the ranks' collective closes
	// (MPI_Finalize, which under an mpirun that is ending the job may not
	// return before its SIGKILL); Run then returns it as a *ReportedError.
	Report func(error)
}

// InterruptedError is a run stopped by a signal (every rank after the same
// step), whose checkpoint rank 0 wrote; it is context.Canceled.
type InterruptedError struct{ line string }

func (e *InterruptedError) Error() string        { return e.line }
func (e *InterruptedError) Is(target error) bool { return target == context.Canceled }

// ReportedError is an error Run already gave to Job.Report: the caller
// does not print it again.
type ReportedError struct{ Err error }

func (e *ReportedError) Error() string { return e.Err.Error() }
func (e *ReportedError) Unwrap() error { return e.Err }

// Result is a trained model and its record.
type Result struct {
	File   *modelfile.File // Training holds Record, encoded
	Record modelfile.TrainingRecord
	// Writer says whether this process writes the model: rank 0 of a
	// data-parallel run, or the only process.
	Writer bool
}

// Run trains the model job describes: it computes or reads the couplings,
// fits a closed-form family directly, and trains a network on the backend
// --device resolves to, joined to the other ranks, resuming from and
// writing checkpoints, until the epochs are done or ctx is cancelled (a
// signal: then it writes a checkpoint and returns an error naming it).
// Only rank 0 writes files and notes.
func Run(ctx context.Context, job Job) (*Result, error) {
	if job.Notes == nil {
		job.Notes = io.Discard
	}
	set := job.Data
	if len(set.Times()) < 2 {
		return nil, fmt.Errorf("%s: training needs at least 2 snapshot times, got %d", job.DataPath, len(set.Times()))
	}
	family, err := models.LookupFamily(job.Model)
	if err != nil {
		return nil, fmt.Errorf("--model: %w", err)
	}
	if _, err := family.Layout(set.D); err != nil { // e.g. linear models above their MaxDim
		return nil, fmt.Errorf("%s: %w", job.DataPath, err)
	}
	// A checkpoint of another model is refused before the couplings are
	// computed.
	var ckpt *modelfile.File
	if job.Resume != "" {
		if ckpt, err = loadCheckpoint(job.Resume, job.Model, set.D); err != nil {
			return nil, err
		}
	}
	cp, err := job.couplingsUnlessInterrupted(ctx)
	if err != nil {
		return nil, err
	}
	problem, err := NewProblem(cp, set)
	if err != nil {
		if job.Couplings != "" {
			return nil, fmt.Errorf("%s: %s: %w", job.Couplings, job.DataPath, err)
		}
		return nil, fmt.Errorf("%s: %w", job.DataPath, err)
	}
	rec := modelfile.TrainingRecord{Model: job.Model, Data: job.DataPath, Seed: job.Settings.Seed, Coupling: job.CouplingOptions.Method,
		Couplings: cp.Provenance, Transform: job.Transform}
	if cp.Provenance != nil {
		rec.DataSHA256 = cp.Provenance.Data // checked equal to set.Hash()
	} else {
		rec.DataSHA256 = set.Hash()
	}
	start := time.Now()
	var f *modelfile.File
	if family.Fit != nil {
		f, err = fitClosedForm(family, problem)
	} else {
		f, err = job.trainNet(ctx, problem, &rec, ckpt)
	}
	if err != nil {
		return nil, err
	}
	m, err := f.Model()
	if err != nil {
		return nil, err
	}
	rec.Beta, rec.Seconds = m.Beta(), time.Since(start).Seconds()
	if f.Training, err = rec.Encode(); err != nil {
		return nil, err
	}
	return &Result{File: f, Record: rec, Writer: job.Topology.Rank == 0}, nil
}

// note writes a note on rank 0 unless quiet.
func (job *Job) note(format string, args ...any) {
	if !job.Quiet && job.Topology.Rank == 0 {
		fmt.Fprintf(job.Notes, format+"\n", args...)
	}
}

// couplings reads job.Couplings if the file exists (checked against the
// data and options), else computes the couplings and caches them there;
// rank 0 alone writes the file and the warnings.
// couplingsUnlessInterrupted computes (or loads) the couplings, and
// returns at once when ctx is cancelled (SIGTERM, SIGINT), before or
// during the computation: a solver cannot stop midway, so it is abandoned
// (the process ends with the returned line), and nothing has been written
// (a couplings file is written atomically). Before, a signal waited for
// every transition's plan, minutes on large data, and a scheduler's
// SIGKILL ended the job with no word.
func (job *Job) couplingsUnlessInterrupted(ctx context.Context) (*couplings.Couplings, error) {
	interrupted := &InterruptedError{"interrupted while computing the couplings; nothing written"}
	if ctx.Err() != nil {
		return nil, interrupted
	}
	type result struct {
		cp  *couplings.Couplings
		err error
	}
	done := make(chan result, 1)
	go func() {
		cp, err := job.couplings()
		done <- result{cp, err}
	}()
	select {
	case r := <-done:
		return r.cp, r.err
	case <-ctx.Done():
		return nil, interrupted
	}
}

func (job *Job) couplings() (*couplings.Couplings, error) {
	return couplings.LoadOrCompute(job.Data, couplings.Request{Data: job.DataPath, File: job.Couplings, Options: job.CouplingOptions,
		Follower: job.Topology.Rank != 0, Quiet: job.Quiet, Warnings: job.Notes})
}

// fitClosedForm fits a family solved in closed form (Family.Fit) to the
// problem's pairs.
func fitClosedForm(family models.Family, p *Problem) (*modelfile.File, error) {
	c := p.Pairs
	pairs := &models.Pairs{D: p.D, X: c.X, Y: c.Y, W: c.W, Tau: c.Tau, Score: c.Score, Sources: p.Populations[:len(p.Populations)-1]}
	for _, k := range c.K {
		pairs.K = append(pairs.K, int(k))
	}
	params, err := family.Fit(pairs)
	if err != nil {
		return nil, err
	}
	return &modelfile.File{Kind: family.Name, Dim: p.D, Times: c.Times, MeanInterval: p.MeanInterval, Params: params}, nil
}

// device resolves job.Device to a backend and the settings it can run:
// with auto, a precision the chosen backend does not run falls back to its
// default, with a note. A rank of several picks its device first.
func (job *Job) device(s Settings) (Registration, Settings, error) {
	if job.Topology.Size > 1 {
		for _, r := range registry {
			if r.PickDevice != nil {
				r.PickDevice(job.Topology.Device) // one device per rank of a node
			}
		}
	}
	reg, note, err := Resolve(job.Device)
	if err != nil {
		return reg, s, err
	}
	if s.Precision != "" && !reg.Runs(s.Precision) {
		if job.Device != "auto" {
			return reg, s, fmt.Errorf("--precision %s: %s computes in %s only", s.Precision, reg.Label, strings.Join(reg.Precisions, " or "))
		}
		note += fmt.Sprintf("; %s computes in %s", reg.Label, strings.Join(reg.Precisions, " or "))
		s.Precision = ""
	}
	if note != "" {
		job.note("%s", note)
	}
	return reg, s, nil
}

// trainNet trains a network family on the backend job.Device resolves to.
func (job *Job) trainNet(ctx context.Context, p *Problem, rec *modelfile.TrainingRecord, from *modelfile.File) (result *modelfile.File, err error) {
	s := job.Settings
	if err = s.Validate(); err != nil {
		return nil, err
	}
	net, err := networks.NewNet(job.Model, p.D, s.Seed)
	if err != nil {
		return nil, err
	}
	if net.HasInternal() && !slices.ContainsFunc(p.Pairs.Score, func(x float64) bool { return x != 0 }) {
		s.Freeze = []string{"beta"}
		rec.FrozenBeta = true
		fmt.Fprintln(job.Notes, "warning: every density score is 0 (every target point lies below the density clip); β is frozen at 0")
	}
	reg, s, err := job.device(s)
	if err != nil {
		return nil, err
	}
	backend, err := reg.New(net, p.ForNet(net), s) // time-potential: ∇V at the source (docs/design.md §3.1)
	if err != nil {
		return nil, err
	}
	defer backend.Close()
	fp := fingerprint(rec, job.CouplingOptions, net, backend.Settings(), reg.Name, from)
	group, err := joinRanks(job.Collective, reg, Joining{Topology: job.Topology, Fingerprint: fp, Log: job.Notes, Timeout: job.CollectiveTimeout}, backend, func() bool { return ctx.Err() != nil })
	if err != nil {
		return nil, err
	}
	defer group.close()
	rec.Collective, rec.Ranks = group.Name(), group.Size()
	if group.Size() > 1 {
		job.note("data parallel: %d ranks, gradients summed by %s", group.Size(), group.Name())
	}
	s = backend.Settings()
	rec.Epochs, rec.BatchSize, rec.LR, rec.InteractionSamples, rec.Device, rec.Precision = s.Epochs, s.BatchSize, s.LR, s.Samples, reg.Name, s.Precision
	if s.Stratified {
		rec.InteractionSampling = StratifiedSampling
	}
	t := &netTraining{job: job, rec: rec, backend: backend, file: func(st *State) *modelfile.File {
		return &modelfile.File{Kind: job.Model, Dim: p.D, Times: p.Pairs.Times, MeanInterval: p.MeanInterval, Params: st.Params}
	}}
	if from != nil {
		if err := resume(job.Resume, from, rec, backend); err != nil {
			return nil, err
		}
		job.warnRanks(from, rec.Ranks)
	}
	if job.Topology.Rank == 0 {
		var closeLog func() error
		if t.log, closeLog, err = job.openLog(); err != nil {
			return nil, err
		}
		defer func() {
			if cerr := closeLog(); cerr != nil && err == nil {
				result, err = nil, fmt.Errorf("--log-json: %w", cerr)
			}
		}()
	}
	bar := progress.New("epoch", s.Epochs, job.Quiet || job.Topology.Rank != 0)
	start := time.Now()
	err = Train(ctx, backend, p, s, t.observer(net, s.Epochs, bar, start))
	bar.Done()
	if line := group.sumShare(time.Since(start)); line != "" {
		job.note("%s", line)
	}
	result, err = t.finish(err)
	if errors.Is(err, context.Canceled) && job.Report != nil {
		job.Report(err) // before the deferred close of the collective
		err = &ReportedError{Err: err}
	}
	return result, err
}

// warnRanks says, on rank 0, when the checkpoint f was written by another
// number of ranks than the ranks resuming it: the sums then add the
// ranks' shares in another order.
func (job *Job) warnRanks(f *modelfile.File, ranks int) {
	var was struct {
		Ranks int `json:"ranks"`
	}
	if json.Unmarshal(f.Training, &was) != nil || was.Ranks == 0 || was.Ranks == ranks || job.Topology.Rank != 0 {
		return // checkpoints from before the record held the ranks are not compared
	}
	fmt.Fprintf(job.Notes, "warning: %s was written by %d rank(s) and resumes on %d: the gradients are summed in another order, so the result is not bit-identical to an uninterrupted %d-rank run (it agrees to rounding)\n",
		job.Resume, was.Ranks, ranks, was.Ranks)
}

// netTraining is a network's training run after its backend is built: it
// reports the epochs and writes the checkpoints.
type netTraining struct {
	job     *Job
	rec     *modelfile.TrainingRecord
	backend Backend
	file    func(*State) *modelfile.File
	log     io.Writer // the --log-json lines; nil: none
}

// openLog opens the --log-json destination; the returned func closes it.
func (job *Job) openLog() (io.Writer, func() error, error) {
	none := func() error { return nil }
	switch job.LogJSON {
	case "":
		return nil, none, nil
	case "-":
		return job.Stdout, none, nil
	default:
		// Written like every output (atomicfile): to a temporary file that
		// replaces the destination at the end, so that a full disk leaves
		// the old file or none, never a partial one. The epochs logged
		// before an interruption or a failed step are kept.
		f, err := atomicfile.Create(job.LogJSON)
		if err != nil {
			return nil, nil, fmt.Errorf("--log-json: %w", err)
		}
		return logLines{f}, f.Commit, nil
	}
}

// logLines writes each --log-json line through to the temporary file.
type logLines struct{ f *atomicfile.File }

func (l logLines) Write(b []byte) (int, error) {
	n, err := l.f.Write(b)
	if err == nil {
		err = l.f.Flush()
	}
	return n, err
}

// saveCheckpoint writes the backend's state to job.Checkpoint on rank 0.
func (t *netTraining) saveCheckpoint() error {
	if t.job.Topology.Rank != 0 {
		return nil
	}
	st, err := t.backend.State()
	if err != nil {
		return err
	}
	f := t.file(st)
	f.M, f.V, f.Steps = st.M, st.V, st.Steps
	if f.Training, err = t.rec.Encode(); err != nil {
		return err
	}
	return modelfile.Save(t.job.Checkpoint, f)
}

// observer records each epoch's loss, shows progress, writes the --log-json
// line and the periodic checkpoints.
func (t *netTraining) observer(net *networks.Net, epochs int, bar *progress.Bar, start time.Time) Observer {
	job, rec, log := t.job, t.rec, t.log
	return Observer{OnEpoch: func(r EpochReport, b Backend) error {
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
		if log != nil {
			line, err := json.Marshal(struct {
				EpochReport
				Beta    float64 `json:"beta"`
				Seconds float64 `json:"seconds"`
			}{r, beta, time.Since(start).Seconds()})
			if err != nil {
				return fmt.Errorf("--log-json: epoch %d: %w", r.Epoch, err)
			}
			if _, err := fmt.Fprintf(log, "%s\n", line); err != nil {
				return fmt.Errorf("--log-json: %w", err)
			}
		}
		if every := job.CheckpointEvery; every > 0 && r.Epoch%every == 0 && r.Epoch < epochs { // the last one is written after training
			return t.saveCheckpoint()
		}
		return nil
	}}
}

// finish turns Train's outcome into the model file: on cancellation a
// checkpoint and an error naming it, else the final checkpoint (so --resume
// with more epochs extends the run) and the trained parameters.
func (t *netTraining) finish(err error) (*modelfile.File, error) {
	if errors.Is(err, context.Canceled) {
		if cerr := t.saveCheckpoint(); cerr != nil {
			return nil, fmt.Errorf("interrupted, and the checkpoint failed: %w", cerr)
		}
		st, serr := t.backend.State()
		if serr != nil {
			return nil, serr
		}
		ckpt := t.job.Checkpoint
		if r := t.job.Topology.Rank; r != 0 {
			return nil, &InterruptedError{fmt.Sprintf("rank %d: interrupted after %d steps with every rank; rank 0 wrote the checkpoint %s", r, st.Steps, ckpt)}
		}
		return nil, &InterruptedError{fmt.Sprintf("interrupted after %d steps; checkpoint written to %s (continue with --resume %s)", st.Steps, ckpt, ckpt)}
	}
	if err != nil {
		return nil, err
	}
	if t.job.CheckpointEvery > 0 {
		if err := t.saveCheckpoint(); err != nil {
			return nil, err
		}
	}
	st, err := t.backend.State()
	if err != nil {
		return nil, err
	}
	return t.file(st), nil
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
func resume(path string, f *modelfile.File, rec *modelfile.TrainingRecord, b Backend) error {
	var old modelfile.TrainingRecord
	if err := json.Unmarshal(f.Training, &old); err != nil {
		return fmt.Errorf("%s: metadata \"training\": %w", path, err)
	}
	for _, d := range []struct {
		flag      string
		was, want any
	}{{"--batch-size", old.BatchSize, rec.BatchSize}, {"--lr", old.LR, rec.LR}, {"--seed", old.Seed, rec.Seed},
		{"--interaction-samples", estimatorName(old.InteractionSamples, old.InteractionSampling == StratifiedSampling), estimatorName(rec.InteractionSamples, rec.InteractionSampling == StratifiedSampling)}, {"--coupling", old.Coupling, rec.Coupling},
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
	return b.SetState(&State{Params: f.Params, M: f.M, V: f.V, Steps: f.Steps})
}
