package couplings

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/internal/progress"
)

// Request says which couplings a command needs and how it reports them:
// what train and preprocess share, so that both compute, check and warn the
// same way.
type Request struct {
	// Data names the data in messages (the --data path); computing errors
	// are prefixed with it.
	Data string
	// File is the couplings file: LoadOrCompute reads it if it exists, and
	// otherwise writes the couplings it computes there. "" for none.
	File    string
	Options Options
	// Follower is set on every rank of a data-parallel run but rank 0: all
	// ranks compute the same couplings, and rank 0 alone writes File and
	// the warnings about the computation. The zero value is one process.
	Follower bool
	// Quiet: no progress bar (it shows only on a terminal anyway).
	Quiet bool
	// Warnings receives the one-line notes and warnings; nil discards them.
	Warnings io.Writer
}

// LoadOrCompute returns the couplings for training on set: those in
// r.File if it exists, else computed (and written to r.File if r.File is
// named and r is not a Follower). A file computed from other data or with
// other options is refused with an error naming what differs; one in
// another dimension is refused before the data are hashed. A file without a
// provenance record (written by another tool) is used with a warning, since
// nothing can be checked.
func LoadOrCompute(set *snapshot.Set, r Request) (*Couplings, error) {
	if r.File != "" {
		if cp, found, err := r.loadCached(set); found {
			return cp, err
		}
	}
	cp, rep, err := r.Compute(set)
	if err != nil {
		return nil, err
	}
	if r.Follower {
		return cp, nil
	}
	rep.Warn(r.warnings())
	if r.File != "" {
		if err := cp.Save(r.File); err != nil {
			return nil, err
		}
	}
	return cp, nil
}

// loadCached reads and checks r.File; found is false when it cannot be
// stat'ed (it does not exist), and the couplings are to be computed.
func (r Request) loadCached(set *snapshot.Set) (cp *Couplings, found bool, err error) {
	if _, err := os.Stat(r.File); err != nil {
		return nil, false, nil
	}
	if cp, err = Load(r.File); err != nil {
		return nil, true, err
	}
	if cp.D != set.D { // the plainer message, before the data's hash
		return nil, true, fmt.Errorf("%s: couplings in d = %d, but %s has d = %d", r.File, cp.D, r.Data, set.D)
	}
	if cp.Provenance == nil {
		fmt.Fprintf(r.warnings(), "warning: %s records no provenance; cannot check that it was computed from %s with these options\n", r.File, r.Data)
		return cp, true, nil
	}
	// The seed is not compared: it seeds only how the couplings were drawn
	// (random blocks, the mixtures' k-means++), and one set of couplings
	// serves training with any --seed, a seed sweep on one preprocess; the
	// training record keeps the file's provenance, seed included.
	want := r.Options.Resolved(set.D)
	want.Seed = cp.Provenance.Options.Seed
	if err := cp.Provenance.Mismatch(&Provenance{Data: set.Hash(), Options: want}); err != nil {
		return nil, true, fmt.Errorf("%s: %w, not from %s with these flags; delete it or name another --couplings file", r.File, err, r.Data)
	}
	return cp, true, nil
}

// Compute computes the couplings of set with r.Options, showing a progress
// bar unless r.Quiet; errors are prefixed with r.Data. It neither reads nor
// writes r.File, nor warns: see Report.Warn.
func (r Request) Compute(set *snapshot.Set) (*Couplings, *Report, error) {
	bar := progress.New("couplings", Work(set, r.Options), r.Quiet)
	cp, rep, err := ComputeProgress(set, r.Options, bar)
	bar.Done()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", r.Data, err)
	}
	return cp, rep, nil
}

// ComputeShard computes the shard's couplings of set with r.Options
// (ComputeShard, without a progress bar); errors are prefixed with r.Data.
func (r Request) ComputeShard(set *snapshot.Set, s Shard) (*Couplings, *Report, error) {
	cp, rep, err := ComputeShard(set, r.Options, s)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", r.Data, err)
	}
	return cp, rep, nil
}

func (r Request) warnings() io.Writer {
	if r.Warnings == nil {
		return io.Discard
	}
	return r.Warnings
}

// Warn writes to w what would otherwise go unseen: exact OT that was
// blocked automatically (one line), Sinkhorn that stopped at its cap, and
// snapshots whose score is 0.
func (rep *Report) Warn(w io.Writer) {
	var blocked []string
	for _, t := range rep.Transitions {
		if t.Automatic {
			blocked = append(blocked, fmt.Sprintf("t=%g → t=%g: %d × %d points in %d blocks of ≤ %d", t.From, t.To, t.N, t.M, t.Blocks, t.Block))
		}
	}
	if len(blocked) > 0 {
		fmt.Fprintf(w, "note: exact OT above --exact-max points a snapshot is solved in spatial blocks (README \"Scale\"): %s\n", strings.Join(blocked, "; "))
	}
	for _, t := range rep.Transitions {
		if t.Converged != nil && !*t.Converged {
			fmt.Fprintf(w, "warning: sinkhorn t=%g → t=%g did not converge in %d iterations (marginal error %.2g); raise --sinkhorn-max-iter or --epsilon\n", t.From, t.To, t.Iterations, t.MarginalError)
		}
	}
	for _, s := range rep.Snapshots {
		if s.Note != "" {
			fmt.Fprintf(w, "warning: density t=%g: %s\n", s.Time, s.Note)
		}
	}
}
