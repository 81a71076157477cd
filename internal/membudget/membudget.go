// Package membudget is the memory budget every reader checks before it
// allocates for what a file declares (shapes, densified sizes, inflated
// sizes, string heaps, lines): the bounds relative to the file's size keep
// a small file from asking for much, but a file of a few MB may still
// declare hundreds of MB honestly, and Go cannot recover from an
// allocation the machine refuses ("fatal error: out of memory", goroutine
// traces). So a read that would need more than the budget is refused in one
// line instead.
//
// The budget is the smallest of what the machine leaves the process:
// half of MemAvailable (/proc/meminfo), half of the cgroup's memory.max
// less its memory.current, and a quarter of RLIMIT_AS less the address
// space already mapped (Go reserves over a gigabyte of it at start, and
// keeps mapped the address space of its heap's peak). Half, because a
// decoded array is held beside its raw bytes and the garbage collector
// lets the heap grow past what is live; under RLIMIT_AS the collector is
// also told (debug.SetMemoryLimit) to stay within 3/4 of what is left. JKONET_MAX_MEMORY (bytes, or with a suffix
// K, M, G, T, KiB, MiB, GiB, TiB) or the --max-memory flag (Set) replaces
// it.
package membudget

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// Env names the environment variable that sets the budget.
const Env = "JKONET_MAX_MEMORY"

var (
	set       atomic.Int64 // Set's budget; 0: none
	machineMu sync.Once
	machine   int64
	machineOf string
)

// Set fixes the budget at n bytes (the --max-memory flag); n ≤ 0 returns to
// the environment's or the machine's.
func Set(n int64) { set.Store(max(n, 0)) }

// Budget returns the bytes one read may allocate and where the figure
// comes from.
func Budget() (int64, string) {
	if n := set.Load(); n > 0 {
		return n, "--max-memory"
	}
	if s := os.Getenv(Env); s != "" {
		if n, err := Parse(s); err == nil && n > 0 {
			return n, Env
		}
	}
	machineMu.Do(func() {
		machine, machineOf = fromMachine()
		// Under an address-space limit the garbage collector must not let
		// the heap's garbage (the arrays a growing slice left behind)
		// reach it: it is told the limit, unless GOMEMLIMIT says otherwise.
		if machineOf == fromRlimit && debug.SetMemoryLimit(-1) == math.MaxInt64 {
			debug.SetMemoryLimit(machine * 3)
		}
	})
	return machine, machineOf
}

// fromRlimit is the source of a budget set by RLIMIT_AS.
const fromRlimit = "a quarter of the address space RLIMIT_AS leaves free"

// Error is a refusal: a read that needs more than the budget.
type Error struct {
	Need, Budget int64
	Source       string
}

func (e *Error) Error() string {
	how := "set by " + e.Source
	if e.Source != "--max-memory" && e.Source != Env {
		how = e.Source + "; --max-memory or " + Env + " sets it"
	}
	need, budget := Size(e.Need), Size(e.Budget)
	if need == budget {
		need, budget = fmt.Sprintf("%d bytes", e.Need), fmt.Sprintf("%d", e.Budget)
	}
	return fmt.Sprintf("needs %s of memory, more than the budget of %s (%s)", need, budget, how)
}

// Check returns an *Error when need bytes exceed the budget, nil otherwise.
func Check(need int64) error {
	b, src := Budget()
	if need < 0 || need > b {
		if need < 0 {
			need = math.MaxInt64
		}
		return &Error{Need: need, Budget: b, Source: src}
	}
	return nil
}

// Checku is Check for a count that may not fit an int64.
func Checku(need uint64) error { return Check(int64(min(need, math.MaxInt64))) }

// Size writes n bytes for people: 512 B, 3.2 MB, 1.5 GB (powers of 1000).
func Size(n int64) string {
	const units = "kMGTPE"
	if n < 1000 {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/1000, 0
	for v >= 1000 && i < len(units)-1 {
		v, i = v/1000, i+1
	}
	return fmt.Sprintf("%.3g %cB", v, units[i])
}

// Parse reads a size: bytes, or a number with a suffix K, M, G, T (powers
// of 1000, "B" optional) or KiB, MiB, GiB, TiB (powers of 1024).
func Parse(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
		{"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(t, strings.ToUpper(u.suffix)); ok && (u.suffix != "B" || rest != "") {
			t, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) || v*mult < 1 || v*mult >= math.MaxInt64 || strings.ContainsAny(t, "XP_") {
		return 0, fmt.Errorf("%q is not a size (expected bytes, or a number with K, M, G, T, KiB, MiB, GiB or TiB)", s)
	}
	return int64(v * mult), nil
}

// fromMachine is the smallest of: half of MemAvailable, half of what the
// cgroup's memory.max leaves, and a quarter of the address space RLIMIT_AS
// leaves (Go keeps the address space of its heap's peak, garbage included,
// mapped: a quarter leaves room for that and the runtime's own growth).
func fromMachine() (int64, string) {
	budget, of := int64(math.MaxInt64/2), "no limit found"
	take := func(n int64, what string) {
		if n >= 0 && n < budget {
			budget, of = n, what
		}
	}
	if n, ok := meminfo("MemAvailable:"); ok {
		take(n/2, "half of what MemAvailable leaves free")
	}
	if n, ok := cgroupFree(); ok {
		take(n/2, "half of what the cgroup's memory.max leaves free")
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &rl); err == nil && rl.Cur != math.MaxUint64 && rl.Cur < math.MaxInt64 {
		mapped, _ := status("VmSize:")
		take(max(int64(rl.Cur)-mapped, 0)/4, fromRlimit)
	}
	return budget, of
}

// meminfo reads a field of /proc/meminfo in bytes.
func meminfo(field string) (int64, bool) { return kBField("/proc/meminfo", field) }

// status reads a field of /proc/self/status in bytes.
func status(field string) (int64, bool) { return kBField("/proc/self/status", field) }

// kBField reads "Field:   123 kB" from a /proc file.
func kBField(path, field string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			v, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v << 10, err == nil
		}
	}
	return 0, false
}

// cgroupFree is the memory the process's cgroup may still use (v2:
// memory.max less memory.current; v1: memory.limit_in_bytes less
// memory.usage_in_bytes).
func cgroupFree() (int64, bool) {
	dirs, v1 := []string{"/sys/fs/cgroup"}, []string{"/sys/fs/cgroup/memory"}
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if p, ok := strings.CutPrefix(line, "0::"); ok && p != "/" {
				dirs = append([]string{"/sys/fs/cgroup" + p}, dirs...)
			}
			if _, p, ok := strings.Cut(line, ":memory:"); ok && p != "/" {
				v1 = append([]string{"/sys/fs/cgroup/memory" + p}, v1...)
			}
		}
	}
	for _, d := range dirs {
		if limit, ok := number(d + "/memory.max"); ok {
			used, _ := number(d + "/memory.current")
			return max(limit-used, 0), true
		}
	}
	for _, d := range v1 {
		if limit, ok := number(d + "/memory.limit_in_bytes"); ok && limit < 1<<60 {
			used, _ := number(d + "/memory.usage_in_bytes")
			return max(limit-used, 0), true
		}
	}
	return 0, false
}

// number reads a file holding one integer ("max" is no number).
func number(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return v, err == nil
}
