// emu_test.cpp: checks the CUDA emulator (bin/libcuda-emu.so) through the
// driver API entry points, as the Go binding will call them. Run from the
// repository root:
//
//   kernels/emu/test/run.sh            # make kernels emulator, build, run
//
// or by hand:
//
//   make emulator
//   g++ -std=c++17 -O2 -Wall -Wextra -o bin/emu-test kernels/emu/test/emu_test.cpp -ldl -pthread
//   bin/emu-test
//
// Arguments: [library [ptx]], defaulting to bin/libcuda-emu.so and
// kernels/selftest.sm80.ptx. EMU_TEST_QUICK=1 runs fewer launches and no
// timing (for valgrind). Exit status 0 when every check passes.
#include <dlfcn.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef void* CUcontext;
typedef void* CUmodule;
typedef void* CUfunction;
typedef void* CUstream;

// The driver API, looked up with dlsym as the Go binding does.
#define API(X)                                                                                                   \
  X(cuInit, CUresult(unsigned))                                                                              \
  X(cuDriverGetVersion, CUresult(int*))                                                                      \
  X(cuDeviceGetCount, CUresult(int*))                                                                        \
  X(cuDeviceGet, CUresult(CUdevice*, int))                                                                   \
  X(cuDeviceGetName, CUresult(char*, int, CUdevice))                                                         \
  X(cuDeviceGetAttribute, CUresult(int*, int, CUdevice))                                                     \
  X(cuDeviceTotalMem_v2, CUresult(size_t*, CUdevice))                                                        \
  X(cuDevicePrimaryCtxRetain, CUresult(CUcontext*, CUdevice))                                                \
  X(cuDevicePrimaryCtxRelease_v2, CUresult(CUdevice))                                                        \
  X(cuCtxSetCurrent, CUresult(CUcontext))                                                                    \
  X(cuCtxGetCurrent, CUresult(CUcontext*))                                                                   \
  X(cuCtxSynchronize, CUresult())                                                                            \
  X(cuModuleLoadDataEx, CUresult(CUmodule*, const void*, unsigned, int*, void**))                            \
  X(cuModuleGetFunction, CUresult(CUfunction*, CUmodule, const char*))                                       \
  X(cuModuleUnload, CUresult(CUmodule))                                                                      \
  X(cuFuncSetAttribute, CUresult(CUfunction, int, int))                                                      \
  X(cuMemAlloc_v2, CUresult(CUdeviceptr*, size_t))                                                           \
  X(cuMemFree_v2, CUresult(CUdeviceptr))                                                                     \
  X(cuMemcpyHtoD_v2, CUresult(CUdeviceptr, const void*, size_t))                                             \
  X(cuMemcpyDtoH_v2, CUresult(void*, CUdeviceptr, size_t))                                                   \
  X(cuMemcpyDtoD_v2, CUresult(CUdeviceptr, CUdeviceptr, size_t))                                             \
  X(cuMemsetD8_v2, CUresult(CUdeviceptr, unsigned char, size_t))                                             \
  X(cuMemGetInfo_v2, CUresult(size_t*, size_t*))                                                             \
  X(cuLaunchKernel, CUresult(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, \
                                 CUstream, void**, void**))                                                      \
  X(cuGetErrorName, CUresult(CUresult, const char**))                                                        \
  X(cuGetErrorString, CUresult(CUresult, const char**))                                                      \
  X(jkEmuLastError, const char*())

#define DECLARE(name, type) static std::add_pointer_t<type> name;
API(DECLARE)

static int failures = 0;

#define CHECK(cond)                                                                        \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);             \
      failures++;                                                                          \
    }                                                                                      \
  } while (0)

// Expects `call` to return `want`; on success of the expectation returns true.
#define EXPECT(call, want)                                                                                \
  [&] {                                                                                                   \
    CUresult r_ = (call);                                                                                 \
    if (r_ != (want)) {                                                                                   \
      fprintf(stderr, "%s:%d: %s returned %d, want %d (detail: %s)\n", __FILE__, __LINE__, #call, r_, \
              (want), jkEmuLastError());                                                                  \
      failures++;                                                                                         \
      return false;                                                                                       \
    }                                                                                                     \
    return true;                                                                                          \
  }()

#define OK(call) EXPECT(call, 0)

static bool last_error_has(const char* s) {
  const char* e = jkEmuLastError();
  if (strstr(e, s) != nullptr) return true;
  fprintf(stderr, "detail \"%s\" lacks \"%s\"\n", e, s);
  return false;
}

// The kernels' argument structs (kernels/selftest.cu).
struct BlockSumArgs {
  CUdeviceptr in, out;
  int64_t n;
};
struct AxpyArgs {
  CUdeviceptr x, y;
  double a;
  int64_t n;
};
struct DivergeArgs {
  CUdeviceptr out;
  int64_t unused;
};

struct Funcs {
  CUmodule mod;
  CUfunction sum, axpy, diverge;
};

static Funcs load(const std::string& ptx) {
  Funcs f{};
  OK(cuModuleLoadDataEx(&f.mod, ptx.c_str(), 0, nullptr, nullptr));
  OK(cuModuleGetFunction(&f.sum, f.mod, "selftest_block_sum"));
  OK(cuModuleGetFunction(&f.axpy, f.mod, "selftest_axpy"));
  OK(cuModuleGetFunction(&f.diverge, f.mod, "selftest_diverge"));
  return f;
}

// Launches block_sum over in[0:n) and returns the sum of the partials.
static double block_sum(CUfunction f, CUdeviceptr in, CUdeviceptr out, int64_t n, unsigned grid, unsigned block,
                        CUresult* r) {
  BlockSumArgs a{in, out, n};
  void* params[] = {&a};
  OK(cuMemsetD8_v2(out, 0xFF, grid * sizeof(double)));  // NaN unless overwritten
  *r = cuLaunchKernel(f, grid, 1, 1, block, 1, 1, block * sizeof(double), nullptr, params, nullptr);
  std::vector<double> part(grid);
  OK(cuMemcpyDtoH_v2(part.data(), out, grid * sizeof(double)));
  double s = 0;
  for (double p : part) s += p;
  return s;
}

int main(int argc, char** argv) {
  const char* lib = argc > 1 ? argv[1] : "bin/libcuda-emu.so";
  const char* ptx_path = argc > 2 ? argv[2] : "kernels/selftest.sm80.ptx";
  const bool quick = getenv("EMU_TEST_QUICK") != nullptr;
  void* h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 2;
  }
#define LOOKUP(name, type)                                  \
  name = reinterpret_cast<std::add_pointer_t<type>>(dlsym(h, #name));           \
  if (name == nullptr) {                                    \
    fprintf(stderr, "missing symbol %s\n", #name);          \
    return 2;                                               \
  }
  API(LOOKUP)
  std::ifstream in(ptx_path);
  if (!in) {
    fprintf(stderr, "cannot read %s\n", ptx_path);
    return 2;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string ptx = ss.str();

  // Before cuInit.
  int count = -1, version = 0;
  EXPECT(cuDeviceGetCount(&count), 3);
  OK(cuDriverGetVersion(&version));
  CHECK(version == 12020);
  const char* s = nullptr;
  OK(cuGetErrorName(3, &s));
  CHECK(s && strcmp(s, "CUDA_ERROR_NOT_INITIALIZED") == 0);
  OK(cuGetErrorString(719, &s));
  CHECK(s && strcmp(s, "unspecified launch failure") == 0);
  EXPECT(cuGetErrorName(12345, &s), 1);

  // The device.
  OK(cuInit(0));
  CUdevice dev = -1;
  OK(cuDeviceGetCount(&count));
  CHECK(count == 1);
  OK(cuDeviceGet(&dev, 0));
  EXPECT(cuDeviceGet(&dev, 1), 101);
  char name[128];
  OK(cuDeviceGetName(name, sizeof name, dev));
  CHECK(strcmp(name, "jkonet-gpu CUDA emulator (CPU)") == 0);
  int v = 0;
  const int attrs[][2] = {{1, 1024}, {13, 1000000}, {75, 9}, {76, 0}, {8, 49152}, {97, 232448}, {10, 32}};
  for (auto& a : attrs) {
    OK(cuDeviceGetAttribute(&v, a[0], dev));
    CHECK(v == a[1]);
  }
  OK(cuDeviceGetAttribute(&v, 16, dev));
  const int workers = v;
  CHECK(workers >= 1);
  EXPECT(cuDeviceGetAttribute(&v, 12345, dev), 1);

  // Contexts are per OS thread.
  CUdeviceptr d = 0;
  EXPECT(cuMemAlloc_v2(&d, 64), 201);
  CUcontext ctx = nullptr, cur = nullptr;
  OK(cuDevicePrimaryCtxRetain(&ctx, dev));
  OK(cuCtxSetCurrent(ctx));
  OK(cuCtxGetCurrent(&cur));
  CHECK(cur == ctx && ctx != nullptr);

  // Memory accounting and checks.
  size_t free0 = 0, total = 0, free1 = 0, t1 = 0, dtotal = 0;
  OK(cuMemGetInfo_v2(&free0, &total));
  OK(cuDeviceTotalMem_v2(&dtotal, dev));
  CHECK(total == dtotal && free0 == total);
  CUdeviceptr a1 = 0, a2 = 0;
  OK(cuMemAlloc_v2(&a1, 1000));
  OK(cuMemAlloc_v2(&a2, 1 << 20));
  // Each allocation ends at a guard page, its start aligned to the largest
  // power of two up to 256 that divides its size (1000 = 8 x 125).
  CHECK(a1 % 8 == 0 && (a1 + 1000) % (CUdeviceptr)sysconf(_SC_PAGESIZE) == 0 && a2 % 256 == 0);
  OK(cuMemGetInfo_v2(&free1, &t1));
  CHECK(free1 == free0 - 1000 - (1 << 20) && t1 == total);
  EXPECT(cuMemAlloc_v2(&d, 0), 1);
  EXPECT(cuMemAlloc_v2(&d, total), 2);
  CHECK(last_error_has("JKONET_EMU_MEMORY_MB"));
  char host[16] = {0};
  EXPECT(cuMemcpyHtoD_v2(a1 + 996, host, 8), 1);  // runs 4 bytes past the end
  CHECK(last_error_has("not inside one live allocation"));
  EXPECT(cuMemcpyDtoH_v2(host, a1 - 8, 8), 1);
  EXPECT(cuMemcpyDtoD_v2(a2, a1, 1001), 1);
  EXPECT(cuMemsetD8_v2(a1 + 1000, 0, 1), 1);
  OK(cuMemcpyHtoD_v2(a1 + 992, host, 8));
  OK(cuMemcpyDtoD_v2(a2 + 8, a1, 1000));
  OK(cuMemsetD8_v2(a1, 7, 1000));
  OK(cuMemcpyDtoH_v2(host, a1 + 990, 10));
  CHECK(host[0] == 7 && host[9] == 7);
  OK(cuMemFree_v2(a2));
  EXPECT(cuMemFree_v2(a2), 1);
  EXPECT(cuMemFree_v2(a1 + 8), 1);
  EXPECT(cuMemcpyDtoH_v2(host, a2, 8), 1);  // freed
  OK(cuMemFree_v2(a1));
  OK(cuMemGetInfo_v2(&free1, &t1));
  CHECK(free1 == free0);

  // Module checks: a wrong hash, with the JIT error log; a foreign image.
  {
    std::string bad = ptx;
    size_t at = bad.find(" sha256 ") + 8;
    bad[at] = bad[at] == '0' ? '1' : '0';
    char log[512] = {0}, info[256] = {0};
    int opts[] = {5, 6, 3, 4};
    void* vals[] = {log, reinterpret_cast<void*>((uintptr_t)sizeof log), info,
                    reinterpret_cast<void*>((uintptr_t)sizeof info)};
    CUmodule m = nullptr;
    EXPECT(cuModuleLoadDataEx(&m, bad.c_str(), 4, opts, vals), 200);
    CHECK(strstr(log, "does not match") != nullptr);
    CHECK((uintptr_t)vals[1] == strlen(log));
    CHECK(last_error_has("does not match"));
    printf("wrong-hash JIT log: %s\n", log);
    char small[16];
    void* vals2[] = {small, reinterpret_cast<void*>((uintptr_t)sizeof small)};
    EXPECT(cuModuleLoadDataEx(&m, bad.c_str(), 2, opts, vals2), 200);
    CHECK(strlen(small) == 15 && (uintptr_t)vals2[1] == 15);  // truncated, NUL-terminated
    EXPECT(cuModuleLoadDataEx(&m, "// some other PTX\n.version 8.0\n", 0, nullptr, nullptr), 200);
    CHECK(last_error_has("first line"));
    EXPECT(cuModuleLoadDataEx(&m, "// jkonet-module: nosuch sha256 00\n", 0, nullptr, nullptr), 200);
    CHECK(last_error_has("not compiled into this emulator"));
  }
  Funcs f = load(ptx);
  CUfunction nf = nullptr;
  EXPECT(cuModuleGetFunction(&nf, f.mod, "selftest_nosuch"), 500);
  CHECK(last_error_has("selftest_nosuch"));

  // block_sum: n = 100003 integer-valued doubles, so every order sums exactly.
  const int64_t n = 100003;
  std::vector<double> xs(n);
  double exact = 0;
  for (int64_t i = 0; i < n; i++) exact += xs[i] = (double)(i % 1001) - 500;
  CUdeviceptr din = 0, dout = 0;
  OK(cuMemAlloc_v2(&din, n * sizeof(double)));
  OK(cuMemAlloc_v2(&dout, 4096 * sizeof(double)));
  OK(cuMemcpyHtoD_v2(din, xs.data(), n * sizeof(double)));
  CUresult r = 0;
  int bad_sums = 0;
  const int repeats = quick ? 5 : 200;
  auto t0 = std::chrono::steady_clock::now();
  for (int k = 0; k < repeats; k++) {
    double got = block_sum(f.sum, din, dout, n, 7, 256, &r);
    if (r != 0 || got != exact) bad_sums++;
  }
  const double per = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / repeats;
  CHECK(bad_sums == 0);
  printf("block_sum: %d launches of 7 x 256 over n = %lld, %.0f us each with copies, sum %.1f (exact %.1f)\n",
         repeats, (long long)n, per * 1e6, block_sum(f.sum, din, dout, n, 7, 256, &r), exact);
  {  // the fixed cost of a launch: one block of one thread
    BlockSumArgs a{din, dout, 1};
    void* params[] = {&a};
    const int reps = quick ? 10 : 20000;
    auto t1 = std::chrono::steady_clock::now();
    for (int k = 0; k < reps; k++) r |= cuLaunchKernel(f.sum, 1, 1, 1, 1, 1, 1, 8, nullptr, params, nullptr);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count() / reps;
    CHECK(r == 0);
    printf("launch overhead: %.2f us for a 1 x 1 launch\n", dt * 1e6);
  }

  // Launches from two OS threads at once (each sets the context itself).
  {
    int thread_bad[2] = {0, 0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 2; t++)
      ts.emplace_back([&, t] {
        CUresult rr = cuCtxSetCurrent(ctx);
        CUdeviceptr o = 0;
        rr |= cuMemAlloc_v2(&o, 64 * sizeof(double));
        for (int k = 0; k < (quick ? 2 : 30); k++) {
          double got = block_sum(f.sum, din, o, n, 64, 64, &rr);
          if (rr != 0 || got != exact) thread_bad[t]++;
        }
        if (cuMemFree_v2(o) != 0) thread_bad[t]++;
      });
    for (auto& t : ts) t.join();
    CHECK(thread_bad[0] == 0 && thread_bad[1] == 0);
  }

  // axpy: y += 2 x with halves and small integers, exact in float.
  {
    const int64_t m = 10007;
    std::vector<float> x(m), y(m), out(m);
    for (int64_t i = 0; i < m; i++) x[i] = 0.5f * (float)(i % 7), y[i] = (float)(i % 5);
    CUdeviceptr dx = 0, dy = 0;
    OK(cuMemAlloc_v2(&dx, m * 4));
    OK(cuMemAlloc_v2(&dy, m * 4));
    OK(cuMemcpyHtoD_v2(dx, x.data(), m * 4));
    OK(cuMemcpyHtoD_v2(dy, y.data(), m * 4));
    AxpyArgs a{dx, dy, 2.0, m};
    void* params[] = {&a};
    OK(cuLaunchKernel(f.axpy, 3, 1, 1, 128, 1, 1, 0, nullptr, params, nullptr));
    OK(cuCtxSynchronize());
    OK(cuMemcpyDtoH_v2(out.data(), dy, m * 4));
    int wrong = 0;
    for (int64_t i = 0; i < m; i++) wrong += out[i] != y[i] + 2.0f * x[i];
    CHECK(wrong == 0);
    OK(cuMemFree_v2(dx));
    OK(cuMemFree_v2(dy));
  }

  // Launch checks, and shared memory beyond 48 KiB only after opting in.
  {
    BlockSumArgs a{din, dout, n};
    void* params[] = {&a};
    void* extra[] = {nullptr};
    EXPECT(cuLaunchKernel(f.sum, 7, 1, 1, 1025, 1, 1, 0, nullptr, params, nullptr), 1);
    EXPECT(cuLaunchKernel(f.sum, 7, 1, 1, 32, 32, 2, 0, nullptr, params, nullptr), 1);
    EXPECT(cuLaunchKernel(f.sum, 7, 1, 1, 0, 1, 1, 0, nullptr, params, nullptr), 1);
    EXPECT(cuLaunchKernel(f.sum, 0, 1, 1, 256, 1, 1, 2048, nullptr, params, nullptr), 1);
    EXPECT(cuLaunchKernel(f.sum, 2147483648u, 1, 1, 256, 1, 1, 2048, nullptr, params, nullptr), 1);
    EXPECT(cuLaunchKernel(f.sum, 7, 1, 1, 256, 1, 1, 2048, nullptr, nullptr, nullptr), 1);
    EXPECT(cuLaunchKernel(f.sum, 7, 1, 1, 256, 1, 1, 2048, nullptr, params, extra), 1);
    EXPECT(cuLaunchKernel(f.sum, 7, 1, 1, 256, 1, 1, 65536, nullptr, params, nullptr), 1);
    CHECK(last_error_has("cuFuncSetAttribute"));
    EXPECT(cuFuncSetAttribute(f.sum, 8, 232448 + 1), 1);
    OK(cuFuncSetAttribute(f.sum, 8, 65536));
    OK(cuLaunchKernel(f.sum, 7, 1, 1, 256, 1, 1, 65536, nullptr, params, nullptr));
    std::vector<double> part(7);
    OK(cuMemcpyDtoH_v2(part.data(), dout, sizeof(double) * 7));
    double got = 0;
    for (double p : part) got += p;
    CHECK(got == exact);
    EXPECT(cuLaunchKernel(f.sum, 7, 1, 1, 256, 1, 1, 65537, nullptr, params, nullptr), 1);
    EXPECT(cuLaunchKernel(nullptr, 7, 1, 1, 256, 1, 1, 0, nullptr, params, nullptr), 400);
  }

  // Throughput: 1024 threads a block cross 11 barriers and return: each of
  // those is one fiber switch, plus one into the block's first fiber.
  if (!quick) {
    const unsigned grid = 2000, block = 1024;
    const int64_t m = (int64_t)grid * block;
    CUdeviceptr big = 0;
    OK(cuMemAlloc_v2(&big, m * sizeof(double)));
    OK(cuMemsetD8_v2(big, 0, m * sizeof(double)));
    OK(cuFuncSetAttribute(f.sum, 8, 49152));
    double t = 1e30;
    for (int k = 0; k < 3; k++) {
      auto t0 = std::chrono::steady_clock::now();
      double got = block_sum(f.sum, big, dout, m, grid, block, &r);
      t = std::min(t, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      CHECK(r == 0 && got == 0.0);
    }
    const double switches = (double)grid * (block * 12.0 + 1);
    printf("switch rate: %u blocks x %u threads, %.3g switches in %.1f ms on %d worker(s): %.1f M/s (%.1f M/s each)\n",
           grid, block, switches, t * 1e3, workers, switches / t / 1e6, switches / t / 1e6 / workers);
    OK(cuMemFree_v2(big));
  }

  // Barrier divergence fails the launch and, as on a GPU, poisons the context.
  {
    DivergeArgs a{dout, 0};
    void* params[] = {&a};
    EXPECT(cuLaunchKernel(f.diverge, 2, 1, 1, 32, 1, 1, 0, nullptr, params, nullptr), 719);
    CHECK(last_error_has("selftest_diverge: block (0,0,0): __syncthreads reached by 16 of 32 threads") ||
          last_error_has("selftest_diverge: block (1,0,0): __syncthreads reached by 16 of 32 threads"));
    printf("divergence: %s\n", jkEmuLastError());
    EXPECT(cuMemAlloc_v2(&d, 64), 719);
    EXPECT(cuCtxSynchronize(), 719);
    // Releasing the last reference resets the context: memory and modules go.
    OK(cuDevicePrimaryCtxRelease_v2(dev));
    EXPECT(cuMemAlloc_v2(&d, 64), 201);
    EXPECT(cuDevicePrimaryCtxRelease_v2(dev), 201);
    OK(cuDevicePrimaryCtxRetain(&ctx, dev));
    OK(cuMemGetInfo_v2(&free1, &t1));
    CHECK(free1 == total);
    EXPECT(cuMemFree_v2(din), 1);
    EXPECT(cuModuleGetFunction(&nf, f.mod, "selftest_axpy"), 400);
    Funcs g = load(ptx);
    OK(cuModuleUnload(g.mod));
    EXPECT(cuModuleUnload(g.mod), 400);
    OK(cuDevicePrimaryCtxRelease_v2(dev));
  }

  if (failures != 0) {
    fprintf(stderr, "FAIL: %d check(s) failed\n", failures);
    return 1;
  }
  printf("PASS\n");
  return 0;
}
