package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"
)

var infoCommand = &cli.Command{
	Name:   "info",
	Usage:  "print the snapshots of a data file: times, counts, dimension",
	Flags:  []cli.Flag{dataFlag, timeColFlag, jsonFlag},
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
		fmt.Fprintf(w, "  t = %-10g %6d particles\n", t, inf.Counts[k])
	}
	if inf.HasIDs {
		fmt.Fprintf(w, "  trajectory ids: %d distinct\n", inf.DistinctIDs)
	}
	if inf.DT > 0 {
		fmt.Fprintf(w, "  dt = %g\n", inf.DT)
	}
	if len(inf.Meta) > 0 {
		fmt.Fprintf(w, "  meta: %s\n", inf.Meta)
	}
	return nil
}
