package collective

import (
	"fmt"
	"io"
	"net"
	"time"
)

// Rendezvous hands rank 0's NCCL unique id to the other ranks through the
// coordinator address the launcher names (MASTER_ADDR:MASTER_PORT, or the
// first host of a Slurm step): rank 0 listens there and writes the id to each
// of the size−1 ranks that connect; the others dial until timeout and read
// it. It is NCCL's bootstrap and nothing else: the sums go through NCCL.
// Under mpirun the id goes through MPIComm.Broadcast instead.
func Rendezvous(coordinator string, rank, size int, id [UniqueIDBytes]byte, timeout time.Duration) ([UniqueIDBytes]byte, error) {
	deadline := time.Now().Add(timeout)
	if rank == 0 {
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
		for joined := 1; joined < size; joined++ {
			conn, err := l.Accept()
			if err != nil {
				return id, fmt.Errorf("NCCL rendezvous on %s: %d of %d ranks joined: %w", coordinator, joined, size, err)
			}
			conn.SetDeadline(deadline)
			_, err = conn.Write(id[:])
			conn.Close()
			if err != nil {
				return id, fmt.Errorf("NCCL rendezvous on %s: %w", coordinator, err)
			}
		}
		return id, nil
	}
	var got [UniqueIDBytes]byte
	for {
		conn, err := net.DialTimeout("tcp", coordinator, time.Until(deadline))
		if err == nil {
			conn.SetDeadline(deadline)
			_, err = io.ReadFull(conn, got[:])
			conn.Close()
			if err == nil {
				return got, nil
			}
		}
		if time.Now().After(deadline) {
			return got, fmt.Errorf("NCCL rendezvous: rank %d got no id from rank 0 at %s within %v: %w", rank, coordinator, timeout, err)
		}
		time.Sleep(100 * time.Millisecond) // rank 0 may not listen yet
	}
}
