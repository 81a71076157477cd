package membudget

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for s, want := range map[string]int64{
		"1000": 1000, "4G": 4e9, "4GB": 4e9, "4 gb": 4e9, "512MiB": 512 << 20, "1.5K": 1500,
		"2TiB": 2 << 40, "100B": 100, "3m": 3e6,
	} {
		if got, err := Parse(s); err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "G", "-1G", "0", "0.1", "NaN", "Inf", "0x10", "1e30", "4 apples", "1_000"} {
		if got, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) = %d, want an error", s, got)
		}
	}
}

// TestSetWinsOverEnvOverMachine: the flag's budget, else the
// environment's, else the machine's.
func TestSetWinsOverEnvOverMachine(t *testing.T) {
	t.Cleanup(func() { Set(0) })
	t.Setenv(Env, "3M")
	if b, src := Budget(); b != 3e6 || src != Env {
		t.Errorf("with %s=3M: %d from %s", Env, b, src)
	}
	Set(1234)
	if b, src := Budget(); b != 1234 || src != "--max-memory" {
		t.Errorf("after Set(1234): %d from %s", b, src)
	}
	err := Check(1235)
	var be *Error
	if !errors.As(err, &be) || be.Need != 1235 || be.Budget != 1234 {
		t.Fatalf("Check(1235) under 1234: %v", err)
	}
	if want := "needs 1.24 kB of memory, more than the budget of 1.23 kB (set by --max-memory)"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	if err := Check(1234); err != nil {
		t.Errorf("Check(1234) under 1234: %v", err)
	}
	if err := Checku(1 << 63); err == nil {
		t.Error("Checku(2^63): no error")
	}
	Set(0)
	t.Setenv(Env, "lots")
	if b, src := Budget(); src == Env || b <= 0 {
		t.Errorf("with %s=lots: %d from %s, want the machine's", Env, b, src)
	}
}

// TestBudgetFollowsAddressLimit runs itself in a child under ulimit -v:
// the budget is a quarter of the address space the limit leaves, whatever
// the machine's free memory, and Go's garbage collector is told 3/4.
func TestBudgetFollowsAddressLimit(t *testing.T) {
	if os.Getenv("MEMBUDGET_CHILD") != "" {
		b, src := Budget()
		fmt.Printf("%d|%s|%d\n", b, src, debug.SetMemoryLimit(-1))
		os.Exit(0)
	}
	const limitKB = 3_000_000
	cmd := exec.Command("/bin/sh", "-c", `ulimit -v `+strconv.Itoa(limitKB)+` && exec "$0" -test.run='^TestBudgetFollowsAddressLimit$'`, os.Args[0])
	cmd.Env = append(os.Environ(), "MEMBUDGET_CHILD=1", Env+"=")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	f := strings.Split(strings.TrimSpace(string(out)), "|")
	if len(f) != 3 {
		t.Fatalf("child printed %q", out)
	}
	b, _ := strconv.ParseInt(f[0], 10, 64)
	if f[1] != fromRlimit || b <= 0 || b > limitKB<<10/4 {
		t.Errorf("under ulimit -v %d kB: budget %d from %q, want at most a quarter of the limit, from RLIMIT_AS", limitKB, b, f[1])
	}
	// The garbage collector is told the limit: 3/4 of the address space left.
	if gc, _ := strconv.ParseInt(f[2], 10, 64); gc != b*3 {
		t.Errorf("Go's memory limit %d, want %d", gc, b*3)
	}
}
