package snapshot

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// TimeLabelsKey is the key, in a data file's meta object, of the time
// labels the times were read from when they are not the times themselves
// (an AnnData column of day names): a list of {"label", "t"} sorted by t.
// Files made from the set (split, prepare) keep it, and info shows it.
const TimeLabelsKey = "time_labels"

// TimeLabel is one time label and the time it stands for.
type TimeLabel struct {
	Label string  `json:"label"`
	T     float64 `json:"t"`
}

// RecordTimeLabels returns meta (a JSON object, or empty) with labels
// under TimeLabelsKey.
func RecordTimeLabels(meta []byte, labels []TimeLabel) ([]byte, error) {
	obj := map[string]json.RawMessage{}
	if len(meta) > 0 {
		if err := json.Unmarshal(meta, &obj); err != nil {
			return nil, fmt.Errorf(`field "meta": expected a JSON object (%w)`, err)
		}
	}
	raw, err := json.Marshal(labels)
	if err != nil {
		return nil, err
	}
	obj[TimeLabelsKey] = raw
	return json.Marshal(obj)
}

// TimeLabels returns the time labels recorded in meta, or nil when there
// are none (or meta is not the JSON this package writes).
func TimeLabels(meta []byte) []TimeLabel {
	var obj struct {
		Labels []TimeLabel `json:"time_labels"`
	}
	if len(meta) == 0 || json.Unmarshal(meta, &obj) != nil {
		return nil
	}
	return obj.Labels
}

// labelsOf names each of times by its recorded labels ("" where none; two
// labels of one time joined by "+"), or nil when meta records none.
func labelsOf(times []float64, meta []byte) []string {
	recorded := TimeLabels(meta)
	if recorded == nil {
		return nil
	}
	out := make([]string, len(times))
	for k, t := range times {
		var names []string
		for _, l := range recorded {
			if l.T == t {
				names = append(names, l.Label)
			}
		}
		out[k] = strings.Join(names, "+")
	}
	return out
}

// TimeName is how a time is named in messages and legends: its label when
// meta records one ("D2 (t=2)"), else "t=2".
func TimeName(t float64, meta []byte) string {
	name := "t=" + strconv.FormatFloat(t, 'g', -1, 64)
	if l := labelsOf([]float64{t}, meta); len(l) == 1 && l[0] != "" {
		return l[0] + " (" + name + ")"
	}
	return name
}
