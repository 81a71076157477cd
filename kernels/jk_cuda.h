// jk_cuda.h: what the kernel sources use of CUDA C++, so that the same .cu
// files compile with nvcc (to PTX, for the GPU) and with g++ (as C++, for the
// CPU emulator in kernels/emu).
//
// Under nvcc this header adds nothing but the kernel macro and typed math.
// Under the emulator (JKONET_EMULATOR defined) it maps the CUDA built-ins a
// kernel may use — threadIdx, blockIdx, blockDim, gridDim, __syncthreads and
// the block's dynamic shared memory — onto kernels/emu's fiber scheduler, in
// which the threads of a block are fibers of one OS thread and
// __syncthreads is a real barrier.
//
// The kernels use nothing else: no warp shuffles, no atomics, no static
// __shared__ arrays (all shared memory is the dynamic block), so the
// emulation stays small.
#ifndef JK_CUDA_H
#define JK_CUDA_H

#include <stdint.h>

#ifdef JKONET_EMULATOR

#include <math.h>

namespace emu {
struct Dim3 {
  unsigned x, y, z;
};
// The built-in variables of the fiber that runs; the scheduler sets them
// before it switches to a fiber.
extern thread_local Dim3 tls_threadIdx, tls_blockIdx, tls_blockDim, tls_gridDim;
// A barrier for the threads of the running block.
void syncthreads();
// The running block's dynamic shared memory (sharedMemBytes of the launch,
// 16-byte aligned).
unsigned char* shared_memory();
// A kernel as the stand-in driver calls it: params is cuLaunchKernel's
// kernelParams (one pointer per kernel argument).
typedef void (*Trampoline)(void** params);
// Registers a kernel under its PTX entry name at load time, with the most
// threads a block of it may have (its __launch_bounds__) and the size of its
// argument (which a graph captured from a stream keeps a copy of, as CUDA
// does).
struct Registrar {
  Registrar(const char* name, Trampoline t, unsigned max_threads, unsigned long arg_bytes);
};
}  // namespace emu

#define threadIdx (emu::tls_threadIdx)
#define blockIdx (emu::tls_blockIdx)
#define blockDim (emu::tls_blockDim)
#define gridDim (emu::tls_gridDim)
#define __syncthreads() emu::syncthreads()
#define __device__
#define __forceinline__ inline
#define JK_RESTRICT __restrict__

// JK_KERNEL(name, Args, threads) { ... } defines kernel `name` taking one
// argument, `const Args args` (a struct passed by value: every kernel has
// this one argument, so the host and the emulator agree on its layout),
// launched with at most `threads` threads a block (__launch_bounds__; the
// emulator refuses larger blocks, as a GPU would).
#define JK_KERNEL(name, Args, threads)                                          \
  static void name(const Args args);                                            \
  static emu::Registrar name##_registrar(                                       \
      #name, [](void** p) { name(*static_cast<const Args*>(p[0])); }, threads, sizeof(Args)); \
  static void name(const Args args)

// JK_KERNEL_OCCUPANCY(name, Args, threads, blocks) also asks for `blocks`
// resident blocks a multiprocessor (__launch_bounds__'s second argument,
// which caps the registers a thread at 64K / (threads · blocks)); the
// emulator has no registers to cap.
#define JK_KERNEL_OCCUPANCY(name, Args, threads, blocks) JK_KERNEL(name, Args, threads)

#define JK_SHARED_MEMORY(name) unsigned char* name = emu::shared_memory()

#else  // nvcc

#define JK_RESTRICT __restrict__

#define JK_KERNEL(name, Args, threads) extern "C" __global__ void __launch_bounds__(threads) name(const Args args)
#define JK_KERNEL_OCCUPANCY(name, Args, threads, blocks) \
  extern "C" __global__ void __launch_bounds__(threads, blocks) name(const Args args)

// The block's dynamic shared memory, declared once at global scope: an
// extern __shared__ array declared in a function of an anonymous namespace
// takes a name nvcc derives from the source file's absolute path, and the
// PTX would differ from one checkout to another.
extern __shared__ __align__(16) unsigned char jk_dynamic_shared[];
#define JK_SHARED_MEMORY(name) unsigned char* name = jk_dynamic_shared

#endif

// Typed math, one name for float and double.
__device__ __forceinline__ float jk_exp(float x) { return expf(x); }
__device__ __forceinline__ double jk_exp(double x) { return exp(x); }
__device__ __forceinline__ float jk_log1p(float x) { return log1pf(x); }
__device__ __forceinline__ double jk_log1p(double x) { return log1p(x); }
__device__ __forceinline__ float jk_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double jk_abs(double x) { return fabs(x); }
__device__ __forceinline__ double jk_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ bool jk_isfinite(double x) { return x - x == 0.0; }

#endif  // JK_CUDA_H
