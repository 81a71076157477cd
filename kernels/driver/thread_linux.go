package driver

import "syscall"

// threadID is the calling OS thread's id, for the per-thread record of the
// current context (current).
func threadID() int { return syscall.Gettid() }
