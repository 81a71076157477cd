//go:build race

package networks

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// pooled scratch space is reallocated and allocation counts do not hold.
const raceEnabled = true
