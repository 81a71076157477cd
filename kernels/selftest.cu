// selftest.cu: three small kernels that smoke-test the CPU emulator
// (kernels/emu) and, through the Go binding, a real GPU.
//
// Every argument struct holds only 8-byte fields, so a Go struct of
// uint64/int64/float64 fields has the same layout.
#include "jk_cuda.h"

struct BlockSumArgs {
  const double* in;
  double* out;  // one partial sum per block
  int64_t n;
};

// out[blockIdx.x] = the sum of the elements this block visits in a
// grid-stride loop. Needs blockDim.x doubles of dynamic shared memory and
// blockDim.x a power of two (the tree halves it down to one).
JK_KERNEL(selftest_block_sum, BlockSumArgs, 1024) {
  JK_SHARED_MEMORY(smem);
  double* partial = reinterpret_cast<double*>(smem);
  const unsigned tid = threadIdx.x;
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  double s = 0.0;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + tid; i < args.n; i += stride) s += args.in[i];
  partial[tid] = s;
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half >>= 1) {
    if (tid < half) partial[tid] += partial[tid + half];
    __syncthreads();
  }
  if (tid == 0) args.out[blockIdx.x] = partial[0];
}

struct AxpyArgs {
  const float* x;
  float* y;
  double a;  // 8 bytes in the struct; used as float
  int64_t n;
};

// y[i] += a * x[i], grid-stride. (nvcc may fuse this into an fma and g++ on
// x86-64 does not, so compare with values whose products are exact.)
JK_KERNEL(selftest_axpy, AxpyArgs, 1024) {
  const float a = (float)args.a;
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < args.n; i += stride)
    args.y[i] += a * args.x[i];
}

struct DivergeArgs {
  double* out;
  int64_t unused;  // keeps the struct two 8-byte fields like the others
};

// DELIBERATELY WRONG: the lower half of the block waits at __syncthreads
// while the upper half has returned. It exists only so the emulator's test
// can check that barrier divergence is detected and reported. NEVER launch
// it on a real GPU: there the behaviour is undefined (it may hang).
JK_KERNEL(selftest_diverge, DivergeArgs, 1024) {
  if (threadIdx.x >= blockDim.x / 2) return;
  __syncthreads();
  if (threadIdx.x == 0) args.out[blockIdx.x] = 1.0;
}
