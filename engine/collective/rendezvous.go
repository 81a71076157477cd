package collective

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"time"
)

// Hello is what a rank tells rank 0 at the NCCL rendezvous before it gets
// the id: its rank, the world size, the job's token and its fingerprint.
// Rank 0 hands the id only to ranks 1 … Size−1 of its own job (the same
// token and size), each once; anything else that connects to the port (a
// port scanner, a health check, another job's rank) is closed without
// counting. Rank 0 then compares every rank's fingerprint with its own and
// sends every rank either the id or the same one-line refusal.
type Hello struct {
	Rank, Size  int
	Token       string
	Fingerprint []Field
}

// The rendezvous protocol: a hello is the magic, the version (uint16), rank
// and size (uint32), the token (uint16 length, bytes) and the encoded
// fingerprint (uint32 length, bytes), big-endian; rank 0 answers with a
// status byte: replyID and the id, replyRefused or replyDisagree and a
// message (uint16 length, bytes).
const (
	helloMagic      = "JKONETRV"
	ProtocolVersion = 1
	maxToken        = 1024
	replyID         = 0
	replyRefused    = 1 // not this job's rank: the rank retries until its timeout
	replyDisagree   = 2 // this job's ranks disagree: every rank stops
)

// HelloTimeout bounds how long rank 0 waits for a connection's hello: a
// client that says nothing in that time is closed.
var HelloTimeout = 10 * time.Second

func (h Hello) encode() []byte {
	tok, fp := []byte(h.Token), encodeFields(h.Fingerprint)
	if len(tok) > maxToken {
		tok = tok[:maxToken]
	}
	if len(fp) > maxFingerprint {
		fp = fp[:maxFingerprint]
	}
	b := []byte(helloMagic)
	b = binary.BigEndian.AppendUint16(b, ProtocolVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(h.Rank))
	b = binary.BigEndian.AppendUint32(b, uint32(h.Size))
	b = binary.BigEndian.AppendUint16(b, uint16(len(tok)))
	b = append(b, tok...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(fp)))
	return append(b, fp...)
}

// readHello reads one hello, refusing what is not one (wrong magic or
// version, lengths past the bounds) before reading more.
func readHello(r io.Reader) (Hello, error) {
	head := make([]byte, len(helloMagic)+2+4+4+2)
	if _, err := io.ReadFull(r, head); err != nil {
		return Hello{}, fmt.Errorf("no hello: %w", err)
	}
	if string(head[:len(helloMagic)]) != helloMagic {
		return Hello{}, errors.New("not a jkonet-gpu rank (no hello)")
	}
	p := head[len(helloMagic):]
	if v := binary.BigEndian.Uint16(p); v != ProtocolVersion {
		return Hello{}, fmt.Errorf("rendezvous protocol %d, this build speaks %d", v, ProtocolVersion)
	}
	h := Hello{Rank: int(int32(binary.BigEndian.Uint32(p[2:]))), Size: int(int32(binary.BigEndian.Uint32(p[6:])))}
	n := int(binary.BigEndian.Uint16(p[10:]))
	if n > maxToken {
		return Hello{}, fmt.Errorf("a token of %d bytes", n)
	}
	tok := make([]byte, n)
	if _, err := io.ReadFull(r, tok); err != nil {
		return Hello{}, fmt.Errorf("a truncated hello: %w", err)
	}
	h.Token = string(tok)
	var l [4]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return Hello{}, fmt.Errorf("a truncated hello: %w", err)
	}
	m := binary.BigEndian.Uint32(l[:])
	if m > maxFingerprint {
		return Hello{}, fmt.Errorf("a fingerprint of %d bytes", m)
	}
	fp := make([]byte, m)
	if _, err := io.ReadFull(r, fp); err != nil {
		return Hello{}, fmt.Errorf("a truncated hello: %w", err)
	}
	h.Fingerprint = decodeFields(fp)
	return h, nil
}

func reply(status byte, msg string) []byte {
	if len(msg) > 4096 {
		msg = msg[:4096]
	}
	b := binary.BigEndian.AppendUint16([]byte{status}, uint16(len(msg)))
	return append(b, msg...)
}

// Rendezvous hands rank 0's NCCL unique id to the other ranks through the
// coordinator address the launcher names (MASTER_ADDR:MASTER_PORT, or the
// first host of a Slurm step): rank 0 listens there until every rank
// 1 … Size−1 of its job has said hello (Hello) or timeout passes, then
// answers them all; the others dial until timeout, say hello and read the
// answer. Connections that are not this job's ranks are closed without
// counting and logged once (address and reason) to log. It is NCCL's
// bootstrap and nothing else: the sums go through NCCL. Under mpirun the
// id goes through MPIComm.Broadcast instead.
func Rendezvous(coordinator string, h Hello, id [UniqueIDBytes]byte, timeout time.Duration, log io.Writer) ([UniqueIDBytes]byte, error) {
	if log == nil {
		log = io.Discard
	}
	if h.Rank == 0 {
		return serveID(coordinator, h, id, timeout, log)
	}
	return dialID(coordinator, h, timeout)
}

// joined is a rank that said a valid hello, with its connection kept open
// for the answer.
type joined struct {
	hello Hello
	conn  net.Conn
}

func serveID(coordinator string, h Hello, id [UniqueIDBytes]byte, timeout time.Duration, log io.Writer) ([UniqueIDBytes]byte, error) {
	deadline := time.Now().Add(timeout)
	// Listen on every interface: the coordinator's host name may resolve
	// to another one than the others reach it by.
	_, port, err := net.SplitHostPort(coordinator)
	if err != nil {
		return id, fmt.Errorf("NCCL rendezvous: coordinator %q: expected host:port", coordinator)
	}
	l, err := net.Listen("tcp", ":"+port)
	if err != nil {
		return id, fmt.Errorf("NCCL rendezvous: rank 0 cannot listen on %s: %w", coordinator, err)
	}
	defer l.Close()
	l.(*net.TCPListener).SetDeadline(deadline)

	var (
		mu     sync.Mutex
		ranks  = map[int]joined{}
		logged = map[string]bool{}
		all    = make(chan struct{})
		over   bool // the answers are out: a late rank is refused
	)
	refuse := func(conn net.Conn, why string, answer bool) {
		host, _, _ := net.SplitHostPort(conn.RemoteAddr().String())
		if answer {
			conn.SetWriteDeadline(time.Now().Add(time.Second))
			conn.Write(reply(replyRefused, why))
		}
		conn.Close()
		mu.Lock()
		defer mu.Unlock()
		if key := host + "\x00" + why; !logged[key] {
			logged[key] = true
			fmt.Fprintf(log, "NCCL rendezvous on %s: refused a connection from %s: %s\n", coordinator, host, why)
		}
	}
	handle := func(conn net.Conn) {
		conn.SetReadDeadline(time.Now().Add(min(HelloTimeout, time.Until(deadline))))
		hello, err := readHello(bufio.NewReader(io.LimitReader(conn, int64(len(helloMagic)+16+maxToken+maxFingerprint))))
		switch {
		case err != nil:
			refuse(conn, err.Error(), false)
			return
		case hello.Token != h.Token:
			refuse(conn, fmt.Sprintf("rank %d of another job (job token %q, this job's %q)", hello.Rank, hello.Token, h.Token), true)
			return
		case hello.Size != h.Size:
			refuse(conn, fmt.Sprintf("rank %d of %d ranks, this job has %d", hello.Rank, hello.Size, h.Size), true)
			return
		case hello.Rank < 1 || hello.Rank >= h.Size:
			refuse(conn, fmt.Sprintf("rank %d, expected 1 to %d", hello.Rank, h.Size-1), true)
			return
		}
		mu.Lock()
		_, seen := ranks[hello.Rank]
		if over {
			mu.Unlock()
			refuse(conn, fmt.Sprintf("rank %d came after the rendezvous ended", hello.Rank), true)
			return
		}
		if !seen {
			ranks[hello.Rank] = joined{hello, conn}
			if len(ranks) == h.Size-1 {
				close(all)
			}
		}
		mu.Unlock()
		if seen {
			refuse(conn, fmt.Sprintf("rank %d joined already", hello.Rank), true)
		}
	}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return // the deadline, or closed once every rank joined
			}
			go handle(conn)
		}
	}()
	if h.Size == 1 {
		close(all)
	}
	select {
	case <-all:
	case <-time.After(time.Until(deadline)):
	}
	l.Close()
	mu.Lock()
	over = true
	defer mu.Unlock()
	defer func() {
		for _, j := range ranks {
			j.conn.Close()
		}
	}()
	if len(ranks) < h.Size-1 {
		var missing []string
		for r := 1; r < h.Size; r++ {
			if _, ok := ranks[r]; !ok {
				missing = append(missing, fmt.Sprint(r))
			}
		}
		return id, fmt.Errorf("NCCL rendezvous on %s: rank %s of %d did not join within %v", coordinator, strings.Join(missing, ", "), h.Size, timeout)
	}
	order := make([]int, 0, len(ranks))
	for r := range ranks {
		order = append(order, r)
	}
	sort.Ints(order)
	var disagree error
	for _, r := range order {
		if d := Compare(h.Fingerprint, ranks[r].hello.Fingerprint, r); d != nil {
			disagree = d
			break
		}
	}
	answer := append([]byte{replyID}, id[:]...)
	if disagree != nil {
		answer = reply(replyDisagree, disagree.Error())
	}
	for _, r := range order {
		c := ranks[r].conn
		c.SetWriteDeadline(time.Now().Add(min(HelloTimeout, max(time.Until(deadline), time.Second))))
		if _, err := c.Write(answer); err != nil && disagree == nil {
			return id, fmt.Errorf("NCCL rendezvous on %s: answering rank %d: %w", coordinator, r, err)
		}
	}
	return id, disagree
}

func dialID(coordinator string, h Hello, timeout time.Duration) ([UniqueIDBytes]byte, error) {
	deadline := time.Now().Add(timeout)
	var got [UniqueIDBytes]byte
	hello := h.encode()
	var last, refused error // the last error, the last refusal (which says more)
	for {
		conn, err := net.DialTimeout("tcp", coordinator, time.Until(deadline))
		if err == nil {
			var final bool
			final, err = exchange(conn, hello, deadline, &got)
			conn.Close()
			if err == nil {
				return got, nil
			}
			if final {
				return got, err
			}
			if strings.HasPrefix(err.Error(), "rank 0 refused") {
				refused = err
			}
		}
		if last = err; refused != nil {
			last = refused
		}
		if time.Now().After(deadline) {
			return got, fmt.Errorf("NCCL rendezvous: rank %d got no id from rank 0 at %s within %v: %w", h.Rank, coordinator, timeout, last)
		}
		time.Sleep(100 * time.Millisecond) // rank 0 may not listen yet
	}
}

// exchange says hello on conn and reads rank 0's answer into id; final
// says that the answer ends the rendezvous (the ranks disagree).
func exchange(conn net.Conn, hello []byte, deadline time.Time, id *[UniqueIDBytes]byte) (final bool, err error) {
	conn.SetDeadline(deadline)
	if _, err := conn.Write(hello); err != nil {
		return false, err
	}
	r := bufio.NewReader(conn)
	status, err := r.ReadByte()
	if err != nil {
		return false, fmt.Errorf("rank 0 answered nothing: %w", err)
	}
	if status == replyID {
		_, err := io.ReadFull(r, id[:])
		return false, err
	}
	var n [2]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return false, err
	}
	msg := make([]byte, binary.BigEndian.Uint16(n[:]))
	if _, err := io.ReadFull(r, msg); err != nil {
		return false, err
	}
	if status == replyDisagree {
		return true, errors.New(string(msg))
	}
	return false, fmt.Errorf("rank 0 refused this rank: %s", msg)
}
