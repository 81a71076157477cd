package couplings

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Provenance records what a set of couplings was computed from: the
// fingerprint of the data (snapshot.Set.Hash, after any preprocessing) and
// the options. A cached couplings file is reused only when both match, so a
// file computed from other data or with other --coupling/--components is
// never silently trained on (docs/formats.md §2).
type Provenance struct {
	Data    string  `json:"data_sha256"`
	Options Options `json:"options"`
}

// provenanceField is the NPZ field holding the provenance as JSON bytes.
const provenanceField = "provenance"

// Mismatch returns nil when p and want describe the same data and options,
// else an error saying what differs (the data, or each differing option with
// both values).
func (p *Provenance) Mismatch(want *Provenance) error {
	if p.Data != want.Data {
		return fmt.Errorf("computed from other data (sha256 %.12s…, these data %.12s…)", p.Data, want.Data)
	}
	was, now := optionMap(p.Options), optionMap(want.Options)
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(now)) {
		if string(was[k]) != string(now[k]) {
			diffs = append(diffs, fmt.Sprintf("%s %s (now %s)", k, was[k], now[k]))
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("computed with other options: %s", strings.Join(diffs, ", "))
	}
	return nil
}

// optionMap is o as JSON fields, for a field-by-field comparison.
func optionMap(o Options) map[string]json.RawMessage {
	b, _ := json.Marshal(o) // plain numbers, strings and bools: cannot fail
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	return m
}
