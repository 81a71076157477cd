package main

import (
	_ "github.com/urfave/cli/v2"
	_ "gonum.org/v1/gonum/mat"
	_ "gonum.org/v1/plot"
)

func main() {}
