//go:build !race

package networks

const raceEnabled = false
