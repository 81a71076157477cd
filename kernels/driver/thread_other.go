//go:build !linux

package driver

// threadID is -1 where the thread's id is not at hand: then every call makes
// its context current, as CUDA needs (current).
func threadID() int { return -1 }
