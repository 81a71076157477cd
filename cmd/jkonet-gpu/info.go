package main

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/jkonet-gpu/jkonet-gpu/data/cells"
	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
)

var infoCommand = &cli.Command{
	Name:   "info",
	Usage:  "print the snapshots of a data file: times, counts, dimension",
	Flags:  slices.Concat([]cli.Flag{dataFlag, timeColFlag, jsonFlag}, cellFlags, transformFlags),
	Action: info,
}

func info(c *cli.Context) error {
	set, err := loadData(c)
	if err != nil {
		return err
	}
	inf := set.Info()
	w := c.App.Writer
	if c.Bool("json") {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(inf)
	}
	fmt.Fprintf(w, "%s: %d rows, d = %d, %d snapshots\n", c.String("data"), inf.Rows, inf.Dim, len(inf.Times))
	for k, t := range inf.Times {
		if inf.Labels != nil {
			fmt.Fprintf(w, "  t = %-10g %-12s %6d particles\n", t, inf.Labels[k], inf.Counts[k])
		} else {
			fmt.Fprintf(w, "  t = %-10g %6d particles\n", t, inf.Counts[k])
		}
	}
	if inf.HasIDs {
		fmt.Fprintf(w, "  trajectory ids: %d distinct\n", inf.DistinctIDs)
	}
	if inf.DT > 0 {
		fmt.Fprintf(w, "  dt = %g\n", inf.DT)
	}
	// A recorded transform (prepare, or the flags above) is summarised: its
	// PCA basis alone can be thousands of numbers.
	// The time labels are shown above.
	meta := []byte(inf.Meta)
	t, err := cells.FromMeta(set.Meta)
	if err == nil && t != nil {
		fmt.Fprintf(w, "  transform: %s\n", t.Summary())
	}
	if err == nil && (t != nil || inf.Labels != nil) {
		rest := map[string]json.RawMessage{}
		if json.Unmarshal(meta, &rest) == nil {
			delete(rest, "transform")
			delete(rest, snapshot.TimeLabelsKey)
			meta = nil
			if len(rest) > 0 {
				meta, _ = json.Marshal(rest)
			}
		}
	}
	if len(meta) > 0 {
		fmt.Fprintf(w, "  meta: %s\n", meta)
	}
	return nil
}
