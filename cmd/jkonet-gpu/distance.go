package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/ot"
)

var distanceCommand = &cli.Command{
	Name:  "distance",
	Usage: "exact Wasserstein distance W_p between the points of two files",
	Description: `Uses every row of x in each file (all times), uniform weights. W1 has Euclidean cost;
   W2 has squared Euclidean cost and is reported as the distance (the square root).`,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "a", Usage: "first point set (.npz or .csv)", Required: true},
		&cli.StringFlag{Name: "b", Usage: "second point set (.npz or .csv)", Required: true},
		&cli.IntFlag{Name: "p", Usage: "1 or 2", Value: 1},
		timeColFlag, jsonFlag,
	},
	Action: distance,
}

func distance(c *cli.Context) error {
	p := c.Int("p")
	if p != 1 && p != 2 {
		return fmt.Errorf("--p: expected 1 or 2, got %d", p)
	}
	var sets [2]*snapshot.Set
	for i, name := range []string{"a", "b"} {
		s, err := snapshot.Load(c.String(name), snapshot.LoadOptions{TimeCol: c.String("time-col")})
		if err != nil {
			return err
		}
		sets[i] = s
	}
	if sets[0].D != sets[1].D {
		return fmt.Errorf("%s has d = %d but %s has d = %d", c.String("a"), sets[0].D, c.String("b"), sets[1].D)
	}
	wp := ot.W1
	if p == 2 {
		wp = ot.W2
	}
	start := time.Now()
	dist, err := wp(sets[0].X, sets[1].X, sets[0].D)
	if err != nil {
		return err
	}
	seconds := time.Since(start).Seconds()
	if c.Bool("json") {
		return json.NewEncoder(c.App.Writer).Encode(struct {
			P        int     `json:"p"`
			Distance float64 `json:"distance"`
			Seconds  float64 `json:"seconds"`
		}{p, dist, seconds})
	}
	fmt.Fprintf(c.App.Writer, "W%d = %.10g (%d × %d points, %.3f s)\n", p, dist, sets[0].Len(), sets[1].Len(), seconds)
	return nil
}
