// Package progress shows the progress of long work (done/total, a short
// status, elapsed time and ETA) on a terminal, rewriting one line, and stays
// silent when the output is piped or the user asked for --quiet.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Bar reports progress of a job of known size. Its methods on a
// nil *Bar is a no-op, so callers need not check whether progress is shown.
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	label    string
	total    int
	start    time.Time
	last     time.Time
	interval time.Duration
	now      func() time.Time
}

// IsTerminal reports whether f is a character device (a terminal), where a
// progress line that rewrites itself makes sense.
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// New returns a Bar writing to os.Stderr when it is a terminal and quiet is
// false, and nil (silent) otherwise.
func New(label string, total int, quiet bool) *Bar {
	if quiet || !IsTerminal(os.Stderr) {
		return nil
	}
	return NewTo(os.Stderr, label, total)
}

// NewTo returns a Bar that always writes to w.
func NewTo(w io.Writer, label string, total int) *Bar {
	now := time.Now()
	return &Bar{w: w, label: label, total: total, start: now, interval: 100 * time.Millisecond, now: time.Now}
}

// Update reports that done of total units are finished; status is an extra
// short text (e.g. the current loss). Redraws at most ten times a second,
// and always for the last unit. Safe for concurrent use.
func (b *Bar) Update(done int, status string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if done < b.total && now.Sub(b.last) < b.interval {
		return
	}
	b.last = now
	elapsed := now.Sub(b.start)
	eta := "?"
	if done > 0 {
		eta = round(time.Duration(float64(elapsed) * float64(b.total-done) / float64(done))).String()
	}
	line := fmt.Sprintf("%s %d/%d", b.label, done, b.total)
	if status != "" {
		line += " " + status
	}
	fmt.Fprintf(b.w, "\r%s  elapsed %s  ETA %s\x1b[K", line, round(elapsed), eta)
}

// Done ends the progress line.
func (b *Bar) Done() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	fmt.Fprintln(b.w)
}

func round(d time.Duration) time.Duration {
	if d > time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}
