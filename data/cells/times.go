// Package cells prepares single-cell time courses for training: real times
// for the snapshot labels (ParseTimeValues, MapTimes) and the transform of
// the coordinates (Transform: the first k columns, a PCA basis, a z-score
// per column), fitted on the training cells and stored, so that held-out
// cells are mapped with the same numbers (docs/design.md §10).
package cells

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
)

// ParseTimeValues reads a --time-values list "label=time,label=time,…", e.g.
// "0d=0,8h=0.333,1d=1": each snapshot label and the real time it stands for.
// Labels are matched as written (spaces around them are trimmed); a label
// given twice, an empty label, a time that is not a finite number and two
// labels given one time (their cells would silently merge into one
// snapshot) are refused.
func ParseTimeValues(spec string) (map[string]float64, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, errors.New("--time-values: expected label=time pairs separated by commas, e.g. 0d=0,8h=0.333,1d=1, got an empty list")
	}
	values := map[string]float64{}
	labelOf := map[float64]string{}
	for item := range strings.SplitSeq(spec, ",") {
		label, value, ok := strings.Cut(item, "=")
		label, value = strings.TrimSpace(label), strings.TrimSpace(value)
		if !ok || label == "" {
			return nil, fmt.Errorf("--time-values: expected label=time, got %q", strings.TrimSpace(item))
		}
		t, err := strconv.ParseFloat(value, 64)
		if err != nil || math.IsNaN(t) || math.IsInf(t, 0) {
			return nil, fmt.Errorf("--time-values: label %q: expected a finite number, got %q", label, value)
		}
		if _, dup := values[label]; dup {
			return nil, fmt.Errorf("--time-values: label %q is given twice", label)
		}
		if other, ok := labelOf[t]; ok {
			return nil, fmt.Errorf("--time-values: labels %q and %q are both given the time %s (their cells would merge into one snapshot; give each label its own time)", other, label, value)
		}
		values[label], labelOf[t] = t, label
	}
	return values, nil
}

// ParseTimeOrder reads a --time-order list "d0,d1,d3": the string time
// labels of an h5ad obs column in time order. Spaces around a label are
// trimmed; the h5ad reader refuses a label given twice.
func ParseTimeOrder(spec string) []string {
	var order []string
	for label := range strings.SplitSeq(spec, ",") {
		order = append(order, strings.TrimSpace(label))
	}
	return order
}

// Label is how a numeric time label is written for --time-values: the
// shortest decimal that reads back as t (strconv 'g', so 1, 0.5, 1e-05).
func Label(t float64) string { return strconv.FormatFloat(t, 'g', -1, 64) }

// MapTimes replaces every time label t of set by values[Label(t)] in place.
// Every label of the set must have a value; entries of values that the set
// does not use are ignored (one list may serve the training and the test
// file). The error names the first unmapped label and lists the set's.
func MapTimes(set *snapshot.Set, values map[string]float64) error {
	times := set.Times()
	mapped := make(map[float64]float64, len(times))
	for _, t := range times {
		v, ok := values[Label(t)]
		if !ok {
			labels := make([]string, len(times))
			for i, u := range times {
				labels[i] = Label(u)
			}
			return fmt.Errorf("--time-values: no time for the label %q (the data's labels: %s)", Label(t), strings.Join(labels, ", "))
		}
		mapped[t] = v
	}
	for i, t := range set.T {
		set.T[i] = mapped[t]
	}
	return nil
}
