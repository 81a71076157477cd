package collective

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log several goroutines write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testID(seed byte) (id [UniqueIDBytes]byte) {
	for i := range id {
		id[i] = seed + byte(i)
	}
	return id
}

// dialUntil connects to addr, retrying while rank 0 does not listen yet.
func dialUntil(t *testing.T, addr string) net.Conn {
	t.Helper()
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			return c
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
	return nil
}

// answer reads what rank 0 sends a connection: "closed" when it closes
// without a word, else the status and message or id.
func answer(c net.Conn) string {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if len(b) == 0 {
		return fmt.Sprintf("closed (%v)", err)
	}
	if b[0] == replyID {
		return fmt.Sprintf("id %d bytes", len(b)-1)
	}
	return string(b[3:])
}

// TestRendezvousRefusesStrangers: a silent client, one that sends garbage,
// a rank of another job and a second rank 2 all connect before the real
// ranks; none is counted, each is closed (those that speak the protocol
// with the reason), each reason is logged once, and the real ranks get the
// id.
func TestRendezvousRefusesStrangers(t *testing.T) {
	defer func(d time.Duration) { HelloTimeout = d }(HelloTimeout)
	HelloTimeout = 300 * time.Millisecond
	addr, log := freeAddress(t), &syncBuffer{}
	const size = 4
	id := testID(7)
	hello := func(r int) Hello {
		return Hello{Rank: r, Size: size, Token: "slurm-42.0", Fingerprint: []Field{{"--lr", "0.001"}}}
	}
	done := make(chan error, 1)
	go func() {
		got, err := Rendezvous(addr, hello(0), id, 10*time.Second, log)
		if err == nil && got != id {
			err = fmt.Errorf("rank 0 returned another id")
		}
		done <- err
	}()
	silent := dialUntil(t, addr)
	garbage := dialUntil(t, addr)
	garbage.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	other := dialUntil(t, addr)
	stranger := hello(1)
	stranger.Token = "slurm-43.0"
	other.Write(stranger.encode())
	other2 := dialUntil(t, addr) // its retry: logged once
	other2.Write(stranger.encode())
	tooBig := dialUntil(t, addr)
	wrongSize := hello(1)
	wrongSize.Size = 8
	tooBig.Write(wrongSize.encode())
	for _, c := range []struct {
		conn net.Conn
		want string
	}{{silent, "closed"}, {garbage, "closed"}, {other, `rank 1 of another job (job token "slurm-43.0", this job's "slurm-42.0")`},
		{other2, `rank 1 of another job`}, {tooBig, "rank 1 of 8 ranks, this job has 4"}} {
		if got := answer(c.conn); !strings.HasPrefix(got, c.want) {
			t.Errorf("a stranger got %q, want %q", got, c.want)
		}
		c.conn.Close()
	}

	// Rank 2 joins, then a second rank 2 is refused; ranks 1 and 3 join.
	got := make([][UniqueIDBytes]byte, size)
	errs := make([]error, size)
	var wg sync.WaitGroup
	start := func(r int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[r], errs[r] = Rendezvous(addr, hello(r), [UniqueIDBytes]byte{}, 10*time.Second, nil)
		}()
	}
	start(2)
	time.Sleep(200 * time.Millisecond)
	dup := dialUntil(t, addr)
	dup.Write(hello(2).encode())
	if got := answer(dup); got != "rank 2 joined already" {
		t.Errorf("a second rank 2 got %q", got)
	}
	start(1)
	start(3)
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatalf("rank 0: %v", err)
	}
	for r := 1; r < size; r++ {
		if errs[r] != nil || got[r] != id {
			t.Errorf("rank %d: %v, id %x…", r, errs[r], got[r][:4])
		}
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	for _, want := range []string{"no hello: read tcp", "not a jkonet-gpu rank (no hello)", `rank 1 of another job`, "rank 1 of 8 ranks", "rank 2 joined already"} {
		n := 0
		for _, l := range lines {
			if strings.Contains(l, "refused a connection from 127.0.0.1: "+want) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%q logged %d times, want once:\n%s", want, n, log.String())
		}
	}
}

// TestRendezvousTwoJobsOnOnePort: job B's rank 1 dials the port job A's
// rank 0 listens on; it is refused (not counted, never given A's id) and
// says why at its timeout, while A's rank 1 joins A.
func TestRendezvousTwoJobsOnOnePort(t *testing.T) {
	addr := freeAddress(t)
	idA := testID(1)
	job := func(token string, r int) Hello { return Hello{Rank: r, Size: 2, Token: token} }
	var wg sync.WaitGroup
	var errA0, errA1, errB1 error
	var gotA1, gotB1 [UniqueIDBytes]byte
	wg.Add(3)
	go func() { defer wg.Done(); _, errA0 = Rendezvous(addr, job("A", 0), idA, 5*time.Second, nil) }()
	go func() {
		defer wg.Done()
		gotB1, errB1 = Rendezvous(addr, job("B", 1), [UniqueIDBytes]byte{}, time.Second, nil)
	}()
	go func() {
		defer wg.Done()
		time.Sleep(300 * time.Millisecond) // B's rank 1 tries first
		gotA1, errA1 = Rendezvous(addr, job("A", 1), [UniqueIDBytes]byte{}, 5*time.Second, nil)
	}()
	wg.Wait()
	if errA0 != nil || errA1 != nil || gotA1 != idA {
		t.Fatalf("job A: rank 0 %v, rank 1 %v (id %x…)", errA0, errA1, gotA1[:4])
	}
	if gotB1 == idA || errB1 == nil || !strings.Contains(errB1.Error(), `rank 1 got no id from rank 0 at `+addr) ||
		!strings.Contains(errB1.Error(), `rank 0 refused this rank: rank 1 of another job (job token "B", this job's "A")`) {
		t.Fatalf("job B's rank 1: %v (id %x…)", errB1, gotB1[:4])
	}
}

// TestRendezvousNamesMissingRanks: rank 0 waits out its timeout for ranks
// that never come and names them; ranks whose fingerprints differ from
// rank 0's all get the same line.
func TestRendezvousNamesMissingRanks(t *testing.T) {
	addr := freeAddress(t)
	done := make(chan error, 1)
	go func() {
		_, err := Rendezvous(addr, Hello{Rank: 0, Size: 4, Token: "t"}, testID(0), 600*time.Millisecond, nil)
		done <- err
	}()
	if _, err := Rendezvous(addr, Hello{Rank: 2, Size: 4, Token: "t"}, [UniqueIDBytes]byte{}, 300*time.Millisecond, nil); err == nil {
		t.Error("rank 2 got an id without ranks 1 and 3")
	}
	if err := <-done; err == nil || err.Error() != "NCCL rendezvous on "+addr+": rank 1, 3 of 4 did not join within 600ms" {
		t.Errorf("rank 0: %v", err)
	}

	addr = freeAddress(t)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lr := "0.001"
			if r == 2 {
				lr = "0.1"
			}
			_, errs[r] = Rendezvous(addr, Hello{Rank: r, Size: 3, Token: "t", Fingerprint: []Field{{"--lr", lr}}}, testID(0), 5*time.Second, nil)
		}()
	}
	wg.Wait()
	want := "the ranks disagree on --lr: rank 0 has 0.001, rank 2 has 0.1; launch every rank with the same build, data and training flags"
	for r, err := range errs {
		if err == nil || err.Error() != want {
			t.Errorf("rank %d: %v, want %q", r, err, want)
		}
	}
}
