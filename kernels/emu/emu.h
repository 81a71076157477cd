// emu.h: what the stand-in driver (driver.cpp) uses of the execution engine
// (runtime.cpp). Internal to libcuda-emu.so.
#ifndef JK_EMU_H
#define JK_EMU_H

#include <cstddef>
#include <cstdint>
#include <string>

#include "jk_cuda.h"

namespace emu {

// CUresult values the engine itself returns.
enum : int {
  kSuccess = 0,
  kOutOfResources = 701,  // CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES
  kLaunchFailed = 719,    // CUDA_ERROR_LAUNCH_FAILED
};

// One kernel launch, already checked by the driver.
struct LaunchSpec {
  std::string name;  // for messages
  Trampoline fn;
  void** params;
  Dim3 grid, block;
  size_t shared_bytes;
};

// Runs every block of the launch to completion on the worker pool (launches
// are serialised). Returns kSuccess, or an error code with *msg set.
int run_launch(const LaunchSpec& spec, std::string* msg);

// The order in which the threads of a block run between barriers.
enum class Order { kForward, kReverse, kRandom };

// Parses "forward", "reverse", "random" or "random:SEED" (decimal); false if
// the text is none of these.
bool parse_order(const char* text, Order* order, uint64_t* seed);

// Sets the order of later launches (overriding JKONET_EMU_ORDER).
void set_order(Order order, uint64_t seed);

// The order of the next launch: set_order's, else JKONET_EMU_ORDER's, else
// forward.
Order current_order(uint64_t* seed);

// Number of workers (OS threads, the caller's included) blocks run on:
// JKONET_EMU_THREADS, else std::thread::hardware_concurrency().
int worker_count();

// The integer value of environment variable `name` if set and within
// [lo, hi] (a warning on stderr if not), else def.
long env_long(const char* name, long def, long lo, long hi);

// The name of the kernel this OS thread is running, or nullptr outside a
// kernel (for the fault handler: no allocation, no lock).
const char* running_kernel();

// The kernel registered under `name` by emu::Registrar, in *max_threads its
// __launch_bounds__ and in *arg_bytes the size of its argument; nullptr if
// none. *ambiguous is set when two translation units registered the same
// name.
Trampoline find_kernel(const std::string& name, bool* ambiguous, unsigned* max_threads, size_t* arg_bytes);

}  // namespace emu

#endif  // JK_EMU_H
