package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestBarETAAndRateLimit(t *testing.T) {
	var buf bytes.Buffer
	b := NewTo(&buf, "epoch", 10)
	clock := b.start
	b.now = func() time.Time { return clock }
	clock = clock.Add(2 * time.Second)
	b.Update(2, "loss 1.5")
	// 2 units in 2 s, 8 left: ETA 8 s.
	if got := buf.String(); !strings.Contains(got, "epoch 2/10 loss 1.5") || !strings.Contains(got, "ETA 8s") {
		t.Fatalf("unexpected line %q", got)
	}
	n := buf.Len()
	clock = clock.Add(10 * time.Millisecond)
	b.Update(3, "")
	if buf.Len() != n {
		t.Fatalf("redrew within the rate limit: %q", buf.String()[n:])
	}
	b.Update(10, "")
	if !strings.Contains(buf.String()[n:], "10/10") {
		t.Fatalf("last unit not drawn: %q", buf.String()[n:])
	}
	b.Done()
	if !strings.HasSuffix(buf.String(), "\n") {
		t.Fatal("Done did not end the line")
	}
}

func TestNilBarIsSilent(t *testing.T) {
	var b *Bar
	b.Update(1, "x")
	b.Done()
	if New("x", 1, true) != nil {
		t.Fatal("quiet bar is not nil")
	}
}
