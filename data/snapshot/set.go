// Package snapshot holds the particle snapshot data set: points in R^d, each
// labelled with the time of the snapshot it belongs to and, optionally, the
// id of the trajectory (particle) it comes from. It loads and saves the
// NPZ/CSV files, validates them and splits them into train and test sets.
package snapshot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
)

// Set is a snapshot data set of M rows.
type Set struct {
	X    []float64 // M×D coordinates, row-major
	D    int       // dimension of the points
	T    []float64 // time label of each row
	ID   []int64   // trajectory id of each row; nil if absent
	DT   float64   // time step of the simulation that made the data; 0 if absent
	Meta []byte    // JSON object describing how the data were made; nil if absent
	// Names names each row (an AnnData obs index: cell barcodes); nil if
	// absent. Split and the transforms keep it; training ignores it.
	Names []string
}

// Snapshot is the part of a set observed at one time.
type Snapshot struct {
	Time float64
	Rows []int     // indices of its rows in the set, ascending
	X    []float64 // len(Rows)×D points, row-major (a copy)
	ID   []int64   // ids of its rows; nil if the set has none
}

// Len is the number of points in the snapshot.
func (p Snapshot) Len() int { return len(p.Rows) }

// Info summarises a set for the info command.
type Info struct {
	Rows        int             `json:"rows"`
	Dim         int             `json:"dim"`
	Times       []float64       `json:"times"`
	Counts      []int           `json:"counts"`           // rows per time, in the order of Times
	Labels      []string        `json:"labels,omitempty"` // the time label of each of Times, when meta records them (TimeLabelsKey)
	HasIDs      bool            `json:"has_ids"`
	DistinctIDs int             `json:"distinct_ids,omitempty"`
	DT          float64         `json:"dt,omitempty"`
	Meta        json.RawMessage `json:"meta,omitempty"`
}

// Len is the number of rows M.
func (s *Set) Len() int { return len(s.T) }

// Row returns the coordinates of row i (a view into X).
func (s *Set) Row(i int) []float64 { return s.X[i*s.D : (i+1)*s.D] }

// MinRelativeStep is the smallest step between two consecutive distinct
// times that Validate accepts, relative to the span of the times.
const MinRelativeStep = 1e-9

// Validate checks the shapes and values of the set. The error names the
// field and what was expected; callers prefix the file name.
func (s *Set) Validate() error {
	if s.D < 1 {
		return fmt.Errorf(`field "x": expected at least one coordinate column, got dimension %d`, s.D)
	}
	if len(s.X)%s.D != 0 {
		return fmt.Errorf(`field "x": %d values do not make whole rows of dimension %d`, len(s.X), s.D)
	}
	m := len(s.X) / s.D
	if m == 0 {
		return fmt.Errorf(`field "x": expected at least one row`)
	}
	if len(s.T) != m {
		return fmt.Errorf(`field "t": expected %d values (one per row of x), got %d`, m, len(s.T))
	}
	if s.ID != nil && len(s.ID) != m {
		return fmt.Errorf(`field "id": expected %d values (one per row of x), got %d`, m, len(s.ID))
	}
	if s.Names != nil && len(s.Names) != m {
		return fmt.Errorf(`field "names": expected %d names (one per row of x), got %d`, m, len(s.Names))
	}
	for i, v := range s.X {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf(`field "x": expected finite numbers, row %d holds %v`, i/s.D, v)
		}
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, v := range s.T {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf(`field "t": expected finite numbers, row %d holds %v`, i, v)
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	// Every use of the labels takes differences of them (τ_k, the mean
	// interval, the time input of time-potential): labels as far apart as
	// ±1e308 are finite but their difference is not.
	if span := hi - lo; math.IsInf(span, 0) {
		return fmt.Errorf(`field "t": expected time labels whose range is a finite number, got %v to %v (rescale the times)`, lo, hi)
	}
	// A step that small against the others makes τ_k a denormal or 0
	// (times 0, 1e-320, 1), and the snapshots it separates are one in all
	// but name: refused rather than trained on.
	if times := s.Times(); len(times) > 1 {
		span := times[len(times)-1] - times[0]
		for k := range len(times) - 1 {
			if step := times[k+1] - times[k]; step < MinRelativeStep*span {
				return fmt.Errorf(`field "t": times %v and %v are %g apart, less than %g of the span %g from the first time to the last (merge or relabel them)`, times[k], times[k+1], step, MinRelativeStep, span)
			}
		}
	}
	if s.DT < 0 || math.IsNaN(s.DT) || math.IsInf(s.DT, 0) {
		return fmt.Errorf(`field "dt": expected a positive finite time step, got %v`, s.DT)
	}
	if s.Meta != nil {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(s.Meta, &obj); err != nil {
			return fmt.Errorf(`field "meta": expected the bytes of a JSON object (%w)`, err)
		}
	}
	return nil
}

// Times returns the distinct time labels, sorted.
func (s *Set) Times() []float64 {
	times, _ := s.rowsByTime()
	return times
}

// Snapshots returns the set cut by time label, in time order.
func (s *Set) Snapshots() []Snapshot {
	times, groups := s.rowsByTime()
	out := make([]Snapshot, len(times))
	for k, rows := range groups {
		sub := s.subset(rows)
		out[k] = Snapshot{Time: times[k], Rows: rows, X: sub.X, ID: sub.ID}
	}
	return out
}

// Info summarises the set.
func (s *Set) Info() Info {
	times, groups := s.rowsByTime()
	info := Info{Rows: s.Len(), Dim: s.D, Times: times, Counts: make([]int, len(groups)), HasIDs: s.ID != nil, DT: s.DT}
	for k, rows := range groups {
		info.Counts[k] = len(rows)
	}
	if s.ID != nil {
		info.DistinctIDs = len(distinctIDs(s.ID))
	}
	if s.Meta != nil {
		info.Meta = json.RawMessage(s.Meta)
		info.Labels = labelsOf(times, s.Meta)
	}
	return info
}

// rowsByTime returns the sorted distinct time labels and, for each, the
// indices of its rows in ascending order.
func (s *Set) rowsByTime() (times []float64, groups [][]int) {
	index := map[float64]int{}
	for _, t := range s.T {
		if _, ok := index[t]; !ok {
			index[t] = 0
			times = append(times, t)
		}
	}
	slices.Sort(times)
	for k, t := range times {
		index[t] = k
	}
	groups = make([][]int, len(times))
	for i, t := range s.T {
		k := index[t]
		groups[k] = append(groups[k], i)
	}
	return times, groups
}

// subset copies the given rows (and their ids and names) into a new set
// that carries DT and Meta.
func (s *Set) subset(rows []int) *Set {
	out := &Set{
		X:    make([]float64, 0, len(rows)*s.D),
		D:    s.D,
		T:    make([]float64, 0, len(rows)),
		DT:   s.DT,
		Meta: bytes.Clone(s.Meta),
	}
	if s.ID != nil {
		out.ID = make([]int64, 0, len(rows))
	}
	if s.Names != nil {
		out.Names = make([]string, 0, len(rows))
	}
	for _, i := range rows {
		out.X = append(out.X, s.Row(i)...)
		out.T = append(out.T, s.T[i])
		if s.ID != nil {
			out.ID = append(out.ID, s.ID[i])
		}
		if s.Names != nil {
			out.Names = append(out.Names, s.Names[i])
		}
	}
	return out
}

// distinctIDs returns the distinct ids, sorted.
func distinctIDs(ids []int64) []int64 {
	seen := map[int64]bool{}
	var out []int64
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// FromTrajectories stacks snapshots xs[k] (each N×d, particle i the same
// trajectory in every snapshot) with time label k and trajectory id i.
func FromTrajectories(xs [][]float64, d int) *Set {
	s := &Set{D: d}
	for k, x := range xs {
		s.X = append(s.X, x...)
		for i := range len(x) / d {
			s.T = append(s.T, float64(k))
			s.ID = append(s.ID, int64(i))
		}
	}
	return s
}
