package cuda

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/kernels"
)

// kernelResources is what ptxas reported for a kernel (kernels/*.ptxas,
// recorded by make kernels) and the .maxntid and .minnctapersm (0 when
// absent) of its PTX entry: its __launch_bounds__.
type kernelResources struct {
	registers, spillStores, spillLoads, maxThreads, minBlocks int
}

// readResources parses the ptxas report and the PTX of module for sm_arch.
func readResources(t *testing.T, module string, arch int) map[string]*kernelResources {
	t.Helper()
	report, err := os.ReadFile(fmt.Sprintf("../../kernels/%s.sm%d.ptxas", module, arch))
	if err != nil {
		t.Fatalf("%v (make kernels records it)", err)
	}
	res := map[string]*kernelResources{}
	var cur *kernelResources
	entry := regexp.MustCompile(`Compiling entry function '(\w+)' for 'sm_(\d+)'`)
	spills := regexp.MustCompile(`(\d+) bytes spill stores, (\d+) bytes spill loads`)
	regs := regexp.MustCompile(`Used (\d+) registers`)
	for _, line := range strings.Split(string(report), "\n") {
		if m := entry.FindStringSubmatch(line); m != nil {
			if m[2] != strconv.Itoa(arch) {
				t.Fatalf("%s.sm%d.ptxas compiles %s for sm_%s", module, arch, m[1], m[2])
			}
			cur = &kernelResources{registers: -1}
			res[m[1]] = cur
		} else if m := spills.FindStringSubmatch(line); m != nil && cur != nil {
			cur.spillStores, _ = strconv.Atoi(m[1])
			cur.spillLoads, _ = strconv.Atoi(m[2])
		} else if m := regs.FindStringSubmatch(line); m != nil && cur != nil {
			cur.registers, _ = strconv.Atoi(m[1])
		}
	}
	ptx, err := kernels.PTX(module, arch/10, arch%10)
	if err != nil {
		t.Fatal(err)
	}
	bounds := regexp.MustCompile(`\.entry (\w+)\([^)]*\)\s*\.maxntid (\d+), 1, 1(\s*\.minnctapersm (\d+))?`)
	for _, m := range bounds.FindAllStringSubmatch(string(ptx), -1) {
		if r := res[m[1]]; r != nil {
			r.maxThreads, _ = strconv.Atoi(m[2])
			r.minBlocks, _ = strconv.Atoi(m[4])
		}
	}
	return res
}

// TestKernelResources: for sm_80 and sm_90, every kernel of step.cu has a
// __launch_bounds__ equal to the block the backend launches it with, and
// the MLP kernels ask for the blocks a multiprocessor their grids assume
// (mlpOccupancy); a block of each fits in the 64K registers of a
// multiprocessor at the registers ptxas gave it (allocated by the warp, in
// units of 8 a thread) as many times as that; and nothing spills. A change
// that pushes a kernel past these fails here, not with "out of resources"
// or a silent loss of occupancy on a GPU.
func TestKernelResources(t *testing.T) {
	const registerFile = 64 * 1024
	for _, arch := range []int{80, 90} {
		res := readResources(t, "step", arch)
		for _, name := range kernelNames() {
			r := res[name]
			if r == nil || r.registers < 0 {
				t.Errorf("sm_%d: ptxas reported nothing for %s", arch, name)
				continue
			}
			block, perSM, asked := threads, 1, 0
			suffix := name[max(0, len(name)-4):]
			switch {
			case strings.HasPrefix(name, "finish_step"):
				block = finishThreads
			case strings.HasPrefix(name, "mlp_forward"):
				perSM = mlpOccupancy[suffix].forward
				asked = perSM
			case strings.HasPrefix(name, "mlp_backward"):
				perSM = mlpOccupancy[suffix].backward
				asked = perSM
			}
			if r.maxThreads != block || r.minBlocks != asked {
				t.Errorf("sm_%d: %s has __launch_bounds__(%d, %d), and the backend launches blocks of %d assuming %d a multiprocessor",
					arch, name, r.maxThreads, r.minBlocks, block, asked)
			}
			perThread := (r.registers + 7) / 8 * 8
			if fit := registerFile / (perThread * block); fit < perSM {
				t.Errorf("sm_%d: %s uses %d registers a thread: %d blocks of %d fit a multiprocessor, the grid assumes %d",
					arch, name, r.registers, fit, block, perSM)
			}
			if r.spillStores > 0 || r.spillLoads > 0 {
				t.Errorf("sm_%d: %s spills %d bytes (stores) and %d (loads)", arch, name, r.spillStores, r.spillLoads)
			}
			t.Logf("sm_%d %-17s %3d registers, %2d bytes spilled, blocks of %4d, %d a multiprocessor by registers",
				arch, name, r.registers, r.spillStores, block, registerFile/(perThread*block))
		}
	}
}
