package collective

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// childEnv marks a test binary started by mpirun from TestMPI.
const childEnv = "JKONET_COLLECTIVE_MPI_CHILD"

// TestMPI starts this test binary on 3 ranks under mpirun; each rank runs
// TestMPIChild, which checks the sums and the broadcast against values it
// computes itself, and the parent checks that every rank said so.
func TestMPI(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("a child of TestMPI")
	}
	mpirun, err := exec.LookPath("mpirun")
	if err != nil {
		t.Skip("mpirun not found (make mpi installs Open MPI)")
	}
	cmd := exec.Command(mpirun, "--allow-run-as-root", "--oversubscribe", "-n", "3",
		"-x", childEnv+"=1", os.Args[0], "-test.run", "^TestMPIChild$", "-test.v")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mpirun: %v\n%s", err, out)
	}
	for r := range 3 {
		if want := fmt.Sprintf("rank %d of 3 ok", r); !strings.Contains(string(out), want) {
			t.Errorf("no %q in the output:\n%s", want, out)
		}
	}
}

func TestMPIChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("runs only under mpirun, started by TestMPI")
	}
	m, err := OpenMPI("")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Size() != 3 || m.Name() != MPI {
		t.Fatalf("%s of size %d, want mpi of 3", m.Name(), m.Size())
	}
	// Rank r holds (r+1)·(i+1) + 0.25: the sum over 3 ranks is 6(i+1) + 0.75,
	// exact in binary.
	buf := make([]float64, 1000)
	for i := range buf {
		buf[i] = float64((m.Rank()+1)*(i+1)) + 0.25
	}
	if err := m.AllReduceSum(buf); err != nil {
		t.Fatal(err)
	}
	for i, v := range buf {
		if want := float64(6*(i+1)) + 0.75; v != want {
			t.Fatalf("rank %d: element %d is %v, want %v", m.Rank(), i, v, want)
		}
	}
	id := make([]byte, 128)
	if m.Rank() == 1 {
		for i := range id {
			id[i] = byte(i*7 + 3)
		}
	}
	if err := m.Broadcast(id, 1); err != nil {
		t.Fatal(err)
	}
	for i, v := range id {
		if v != byte(i*7+3) {
			t.Fatalf("rank %d: broadcast byte %d is %d, want %d", m.Rank(), i, v, byte(i*7+3))
		}
	}
	// Buffers of different lengths (rank r sums r+5 values) are refused on
	// every rank, and the next sum of equal lengths works.
	var le *LengthError
	if err := m.AllReduceSum(make([]float64, m.Rank()+5)); !errors.As(err, &le) || le.Min != 5 || le.Max != 7 ||
		err.Error() != fmt.Sprintf("the ranks sum buffers of different lengths (5 to 7 values; rank %d has %d): they train different models or settings", m.Rank(), m.Rank()+5) {
		t.Fatalf("rank %d: sums of 5 to 7 values: %v", m.Rank(), err)
	}
	one := []float64{1}
	if err := m.AllReduceSum(one); err != nil || one[0] != 3 {
		t.Fatalf("rank %d: after the refused sum: %v, %v", m.Rank(), one, err)
	}
	// Rank 2 trains with another --lr: every rank says so.
	lr := "0.001"
	if m.Rank() == 2 {
		lr = "0.1"
	}
	want := "the ranks disagree on --lr: rank 0 has 0.001, rank 2 has 0.1; launch every rank with the same build, data and training flags"
	if err := Agree(m, []Field{{"model", "potential"}, {"--lr", lr}}); err == nil || err.Error() != want {
		t.Fatalf("rank %d: Agree: %v", m.Rank(), err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("rank %d of 3 ok\n", m.Rank())
}

func TestOpenMPIMissingLibrary(t *testing.T) {
	_, err := OpenMPI("/nonexistent/libmpi.so.40")
	if err == nil || !strings.Contains(err.Error(), "cannot load Open MPI /nonexistent/libmpi.so.40") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("got %v, want one line naming the library", err)
	}
}
