// driver.cpp: the stand-in CUDA driver. It exports the driver API entry points
// the Go binding calls, with CUDA's signatures and error codes, over host
// memory and the engine in runtime.cpp; plus jkEmuLastError, the detail of
// the last failure.
//
// Device pointers are host addresses. There is one device (0) with one
// context (its primary context); launches and copies are synchronous.
// Streams exist for capture: a stream under cuStreamBeginCapture records its
// launches and memsets as a graph (a copy of each kernel's argument, as CUDA
// takes one), which cuGraphLaunch replays; work on a stream that is not
// capturing runs at once. While a stream captures, the calls CUDA refuses
// then (synchronous copies and memsets, the legacy stream, synchronisation,
// allocation) fail and invalidate the capture: from any thread in the
// global mode, from the capturing thread in the thread-local one.
//
// Every allocation has pages of its own between two inaccessible guard
// pages, placed so that it ends where the upper guard begins (aligned to the
// largest power of two up to 256 that divides its size). A kernel that reads
// or writes past the end of an allocation, or far before its start, faults;
// the fault handler names the kernel, the block, the thread and the
// allocation, and stops the process (a GPU would report
// CUDA_ERROR_ILLEGAL_ADDRESS and lose the context).
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "emu.h"

#ifndef JK_MODULE_HASHES  // set by the Makefile: "name=<sha256>;..."
#define JK_MODULE_HASHES ""
#endif

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st* CUcontext;
typedef struct CUmod_st* CUmodule;
typedef struct CUfunc_st* CUfunction;
typedef struct CUstream_st* CUstream;
typedef struct CUgraph_st* CUgraph;
typedef struct CUgraphExec_st* CUgraphExec;
typedef int CUjit_option;
typedef int CUdevice_attribute;
typedef int CUfunction_attribute;

#define JK_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

enum : int {
  CUDA_SUCCESS = 0,
  CUDA_ERROR_INVALID_VALUE = 1,
  CUDA_ERROR_OUT_OF_MEMORY = 2,
  CUDA_ERROR_NOT_INITIALIZED = 3,
  CUDA_ERROR_INVALID_DEVICE = 101,
  CUDA_ERROR_INVALID_IMAGE = 200,
  CUDA_ERROR_INVALID_CONTEXT = 201,
  CUDA_ERROR_INVALID_HANDLE = 400,
  CUDA_ERROR_NOT_FOUND = 500,
  CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES = 701,
  CUDA_ERROR_LAUNCH_FAILED = 719,
  CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED = 900,
  CUDA_ERROR_STREAM_CAPTURE_INVALIDATED = 901,
  CUDA_ERROR_STREAM_CAPTURE_UNMATCHED = 903,
  CUDA_ERROR_STREAM_CAPTURE_IMPLICIT = 906,
};

struct ErrorText {
  int code;
  const char* name;
  const char* text;  // what the real driver's cuGetErrorString says
};
const ErrorText kErrors[] = {
    {0, "CUDA_SUCCESS", "no error"},
    {1, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {3, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {4, "CUDA_ERROR_DEINITIALIZED", "driver shutting down"},
    {100, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {101, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {200, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {201, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {218, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"},
    {400, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {500, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {700, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"},
    {701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", "too many resources requested for launch"},
    {719, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
    {801, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported"},
    {900, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED", "operation not permitted when stream is capturing"},
    {901, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED", "operation failed due to a previous error during capture"},
    {903, "CUDA_ERROR_STREAM_CAPTURE_UNMATCHED", "capture was not initiated in this stream"},
    {906, "CUDA_ERROR_STREAM_CAPTURE_IMPLICIT",
     "operation would make the legacy stream depend on a capturing blocking stream"},
    {999, "CUDA_ERROR_UNKNOWN", "unknown error"},
};

const ErrorText* error_text(int code) {
  for (const ErrorText& e : kErrors)
    if (e.code == code) return &e;
  return nullptr;
}

constexpr int kSharedDefault = 48 * 1024;  // per block without opting in
constexpr int kSharedOptin = 227 * 1024;   // the most cuFuncSetAttribute allows
constexpr int kSharedOptinEntry = 8;       // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
constexpr int kCarveoutEntry = 9;          // CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT

// ---- the detail message ------------------------------------------------------
// Process-wide rather than per OS thread: a Go caller may be moved to another
// OS thread between the failed call and its jkEmuLastError call.

struct LastError {
  std::mutex mu;
  std::string msg;
};
LastError& last_error() {
  static LastError* e = new LastError;  // never destroyed: callers may come late
  return *e;
}
thread_local std::string last_error_copy;  // what jkEmuLastError returned to this thread

CUresult fail(CUresult code, const std::string& msg) {
  LastError& e = last_error();
  std::lock_guard<std::mutex> lk(e.mu);
  e.msg = msg;
  return code;
}

// ---- driver state --------------------------------------------------------------

struct Module;

struct Function {
  std::string name;
  emu::Trampoline fn;
  unsigned max_threads = 1024;  // its __launch_bounds__
  size_t arg_bytes = 0;         // its one argument's size
  int max_shared = kSharedDefault;
};

struct Module {
  std::string name;
  std::set<std::string> entries;  // the .entry names of its PTX
  std::map<std::string, std::unique_ptr<Function>> functions;
};

// A live allocation: its size and the mapping that holds it with its guards.
struct Alloc {
  size_t size;
  void* map;
  size_t map_bytes;
};

size_t page_bytes() {
  static const size_t p = (size_t)sysconf(_SC_PAGESIZE);
  return p;
}

// Maps bytes between two guard pages, ending at the upper one; nullptr if
// the host is out of memory.
void* guarded_alloc(size_t bytes, Alloc* a) {
  const size_t pg = page_bytes();
  const size_t body = (bytes + pg - 1) / pg * pg;
  a->map_bytes = body + 2 * pg;
  a->map = mmap(nullptr, a->map_bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (a->map == MAP_FAILED) return nullptr;
  char* lo = static_cast<char*>(a->map) + pg;
  if (mprotect(lo, body, PROT_READ | PROT_WRITE) != 0) {
    munmap(a->map, a->map_bytes);
    return nullptr;
  }
  size_t align = 256;
  while (bytes % align != 0) align /= 2;
  a->size = bytes;
  // lo + body is page aligned, so the start keeps `align`.
  return lo + body - bytes;
}

// A node of a graph captured from a stream, in capture order: a kernel
// launch with a copy of its argument, or a memset (fn == nullptr).
struct Node {
  Function* fn = nullptr;
  std::vector<unsigned char> arg;
  emu::Dim3 grid{}, block{};
  unsigned shared = 0;
  CUdeviceptr dst = 0;
  size_t bytes = 0;
  unsigned char value = 0;
};

struct Graph {
  std::vector<Node> nodes;
};

// CUstreamCaptureMode.
enum CaptureMode { kCaptureGlobal = 0, kCaptureThreadLocal = 1, kCaptureRelaxed = 2 };

struct Stream {
  bool capturing = false;
  int mode = kCaptureGlobal;
  std::thread::id owner;     // the thread that began the capture
  std::string invalidated;   // why the capture is invalid, "" if it is not
  std::unique_ptr<Graph> graph;  // what the capture recorded so far
};

struct Driver {
  std::mutex mu;  // guards everything below
  bool initialized = false;
  size_t total = 0, used = 0;
  std::map<CUdeviceptr, Alloc> allocs;  // base -> allocation, live ones
  std::map<Module*, std::unique_ptr<Module>> modules;
  std::set<Function*> functions;
  int refcount = 0;            // of the primary context
  int sticky = CUDA_SUCCESS;   // a launch failure poisons the context
  std::string sticky_msg;
  // An injected fault (jkEmuInjectFault): the countdown-th launch of
  // inject_kernel fails as a GPU's would, asynchronously: the launch
  // succeeds, it and later launches do not run, and the next
  // synchronisation (cuCtxSynchronize, cuMemcpyDtoH) returns the error,
  // naming no kernel. Unlike a GPU's, the context then works again.
  std::string inject_kernel;
  long inject_countdown = 0;
  int pending = CUDA_SUCCESS;
  std::map<Stream*, std::unique_ptr<Stream>> streams;
  std::map<Graph*, std::unique_ptr<Graph>> graphs, execs;  // captured, instantiated

  // Destroys the context's resources, as releasing the last reference does.
  void reset() {
    for (auto& a : allocs) munmap(a.second.map, a.second.map_bytes);
    allocs.clear();
    used = 0;
    modules.clear();
    functions.clear();
    sticky = CUDA_SUCCESS;
    sticky_msg.clear();
    inject_countdown = 0;
    pending = CUDA_SUCCESS;
    streams.clear();
    graphs.clear();
    execs.clear();
  }
};

Driver& drv() {
  static Driver* d = new Driver;  // never destroyed: other threads may call late
  return *d;
}

struct CUctx_st_impl {};
CUctx_st_impl primary_ctx;  // the handle of the one (primary) context
CUcontext primary() { return reinterpret_cast<CUcontext>(&primary_ctx); }
thread_local CUcontext current_ctx;  // as in CUDA, per OS thread

// The checks every context-bound call starts with (d.mu held).
CUresult need_context(Driver& d) {
  if (!d.initialized) return fail(CUDA_ERROR_NOT_INITIALIZED, "cuInit has not been called");
  if (current_ctx == nullptr)
    return fail(CUDA_ERROR_INVALID_CONTEXT,
                "no current context on this OS thread (cuCtxSetCurrent is per OS thread: lock the goroutine to it)");
  if (d.refcount == 0)
    return fail(CUDA_ERROR_INVALID_CONTEXT, "the current context was released (cuDevicePrimaryCtxRelease)");
  if (d.sticky != CUDA_SUCCESS)
    return fail(d.sticky, "context unusable after an earlier launch failure (" + d.sticky_msg +
                              "); release the primary context to reset it");
  return CUDA_SUCCESS;
}

// The injected fault waiting for a synchronisation, if any (d.mu held).
CUresult take_pending(Driver& d) {
  if (d.pending == CUDA_SUCCESS) return CUDA_SUCCESS;
  CUresult r = d.pending;
  d.pending = CUDA_SUCCESS;
  return fail(r, "an earlier launch failed (a fault injected by jkEmuInjectFault or JKONET_EMU_FAULT)");
}

// Refuses a call that CUDA does not allow while a stream captures (from
// any thread in the global mode, from the capturing one in the thread-local
// mode), and invalidates the capture as CUDA does (d.mu held).
CUresult no_capture(Driver& d, CUresult code, const std::string& call) {
  bool refused = false;
  for (auto& entry : d.streams) {
    Stream& st = *entry.second;
    if (!st.capturing || st.mode == kCaptureRelaxed) continue;
    if (st.mode == kCaptureThreadLocal && st.owner != std::this_thread::get_id()) continue;
    if (st.invalidated.empty()) st.invalidated = call;
    refused = true;
  }
  return refused ? fail(code, call + " while a stream captures") : CUDA_SUCCESS;
}

// The stream a handle names: nullptr for the legacy default stream (NULL,
// CU_STREAM_LEGACY, CU_STREAM_PER_THREAD); *ok is false for an unknown
// handle (d.mu held).
Stream* find_stream(Driver& d, CUstream h, bool* ok) {
  *ok = true;
  if ((uintptr_t)h <= 2) return nullptr;
  auto it = d.streams.find(reinterpret_cast<Stream*>(h));
  if (it == d.streams.end()) {
    *ok = false;
    return nullptr;
  }
  return it->second.get();
}

CUresult need_init(Driver& d) {
  return d.initialized ? CUDA_SUCCESS : fail(CUDA_ERROR_NOT_INITIALIZED, "cuInit has not been called");
}

CUresult need_device(CUdevice dev) {
  return dev == 0 ? CUDA_SUCCESS
                  : fail(CUDA_ERROR_INVALID_DEVICE, "device " + std::to_string(dev) + " does not exist (only 0)");
}

std::string hex(CUdeviceptr p) {
  char b[32];
  snprintf(b, sizeof b, "0x%llx", p);
  return b;
}

// Checks that [p, p+n) lies inside one live allocation (d.mu held).
CUresult need_range(Driver& d, CUdeviceptr p, size_t n, const char* what) {
  auto it = d.allocs.upper_bound(p);
  if (it != d.allocs.begin()) {
    --it;
    if (p >= it->first && n <= it->second.size && p - it->first <= it->second.size - n) return CUDA_SUCCESS;
  }
  return fail(CUDA_ERROR_INVALID_VALUE, std::string(what) + " range [" + hex(p) + ", +" + std::to_string(n) +
                                            ") is not inside one live allocation");
}

// ---- modules -----------------------------------------------------------------------

// The hash the library was built with for `module`, or "" if not built in.
std::string built_hash(const std::string& module, std::string* names) {
  const std::string all = JK_MODULE_HASHES;
  std::string found;
  for (size_t pos = 0; pos < all.size();) {
    size_t semi = all.find(';', pos), eq = all.find('=', pos);
    if (semi == std::string::npos) semi = all.size();
    if (eq < semi) {
      std::string name = all.substr(pos, eq - pos);
      *names += (names->empty() ? "" : ", ") + name;
      if (name == module) found = all.substr(eq + 1, semi - eq - 1);
    }
    pos = semi + 1;
  }
  return found;
}

// Copies msg into a JIT log buffer of `cap` bytes; returns the bytes used
// (without the terminating NUL).
size_t write_log(char* buf, size_t cap, const std::string& msg) {
  if (buf == nullptr || cap == 0) return 0;
  size_t n = std::min(msg.size(), cap - 1);
  memcpy(buf, msg.data(), n);
  buf[n] = 0;
  return n;
}

// Parses the image: the header line names the module and its source hash;
// the `.entry name(` lines name its kernels. Returns "" or what is wrong.
std::string parse_ptx(const char* ptx, Module* m) {
  const char* eol = strchr(ptx, '\n');
  std::string first(ptx, eol ? (size_t)(eol - ptx) : strlen(ptx));
  if (!first.empty() && first.back() == '\r') first.pop_back();
  const std::string tag = "// jkonet-module: ";
  size_t sp = first.find(" sha256 ");
  if (first.compare(0, tag.size(), tag) != 0 || sp == std::string::npos || sp < tag.size())
    return "image is not jkonet PTX: its first line must be \"// jkonet-module: <name> sha256 <hex>\"";
  m->name = first.substr(tag.size(), sp - tag.size());
  std::string hash = first.substr(sp + 8), names;
  hash = hash.substr(0, hash.find(' '));  // then " ptx-sha256 <hex>", checked by a Go test
  std::string want = built_hash(m->name, &names);
  if (want.empty())
    return "module " + m->name + " is not compiled into this emulator (it has: " + (names.empty() ? "none" : names) +
           ")";
  if (hash != want)
    return "module " + m->name + ": PTX sha256 " + hash + " does not match the emulator's " + want +
           " (rebuild both: make kernels emulator)";
  for (const char* p = ptx; (p = strstr(p, ".entry ")) != nullptr;) {
    p += 7;
    while (*p == ' ' || *p == '\t') p++;
    const char* q = p;
    while (*q != 0 && *q != '(' && *q != ' ' && *q != '\t' && *q != '\n') q++;
    if (q > p) m->entries.insert(std::string(p, q));
    p = q;
  }
  return "";
}

// ---- counters (JKONET_EMU_STATS) -------------------------------------------------
// What the driver was asked to do: launches by kernel, synchronisations (an
// explicit cuCtxSynchronize, or a device-to-host copy, which waits for the
// work queued before it) and the copies and bytes each way. jkEmuStats
// returns them as JSON; with JKONET_EMU_STATS=FILE they are written to FILE
// at exit, at the last release of the context and at every synchronisation
// (a Go program ends without running atexit handlers, and its last
// synchronisation is its last read of results).

struct Stats {
  std::mutex mu;
  std::map<std::string, uint64_t> launches;      // cuLaunchKernel's, by kernel
  std::map<std::string, uint64_t> graph_kernels;  // kernel nodes run by graph launches
  uint64_t graph_launches = 0, synchronize = 0, set_current = 0;
  uint64_t copies[4] = {0, 0, 0, 0};  // htod, dtoh, dtod, memset
  uint64_t bytes[4] = {0, 0, 0, 0};
};
enum { kHtoD = 0, kDtoH = 1, kDtoD = 2, kMemset = 3 };

Stats& stats() {
  static Stats* s = new Stats;  // never destroyed: other threads may count late
  return *s;
}

std::string stats_json_locked(Stats& st) {
  std::string j = "{\"launches\": {";
  uint64_t total = 0;
  bool first = true;
  for (auto& l : st.launches) {
    j += (first ? "\"" : ", \"") + l.first + "\": " + std::to_string(l.second);
    first = false;
    total += l.second;
  }
  const char* way[4] = {"htod", "dtoh", "dtod", "memset"};
  j += "}, \"graph_kernels\": {";
  uint64_t graph_total = 0;
  first = true;
  for (auto& l : st.graph_kernels) {
    j += (first ? "\"" : ", \"") + l.first + "\": " + std::to_string(l.second);
    first = false;
    graph_total += l.second;
  }
  j += "}, \"graph_kernels_total\": " + std::to_string(graph_total) + ", \"set_current\": " +
       std::to_string(st.set_current);
  j += ", \"launches_total\": " + std::to_string(total) + ", \"graph_launches\": " + std::to_string(st.graph_launches) +
       ", \"synchronizations\": " + std::to_string(st.synchronize + st.copies[kDtoH]) +
       ", \"ctx_synchronize\": " + std::to_string(st.synchronize) + ", \"copies\": {";
  for (int i = 0; i < 4; i++) j += std::string(i ? ", " : "") + "\"" + way[i] + "\": " + std::to_string(st.copies[i]);
  j += "}, \"bytes\": {";
  for (int i = 0; i < 4; i++) j += std::string(i ? ", " : "") + "\"" + way[i] + "\": " + std::to_string(st.bytes[i]);
  return j + "}}\n";
}

// Writes the counters to $JKONET_EMU_STATS, if set, through a temporary
// file renamed over it, so that a reader never sees half a file.
void write_stats_file() {
  static const char* path = getenv("JKONET_EMU_STATS");
  if (path == nullptr || *path == 0) return;
  Stats& st = stats();
  std::string j;
  {
    std::lock_guard<std::mutex> lk(st.mu);
    j = stats_json_locked(st);
  }
  std::string tmp = std::string(path) + ".tmp" + std::to_string(getpid());
  FILE* f = fopen(tmp.c_str(), "w");
  if (f == nullptr) return;
  bool ok = fwrite(j.data(), 1, j.size(), f) == j.size();
  ok = fclose(f) == 0 && ok;
  if (!ok || rename(tmp.c_str(), path) != 0) remove(tmp.c_str());
}

void count_copy(int way, size_t n, bool sync) {
  {
    Stats& st = stats();
    std::lock_guard<std::mutex> lk(st.mu);
    st.copies[way]++;
    st.bytes[way] += n;
  }
  if (sync) write_stats_file();
}

struct StatsAtExit {
  StatsAtExit() { atexit(write_stats_file); }
} stats_at_exit;

// ---- faults in kernels ---------------------------------------------------------

struct sigaction previous_segv, previous_bus;

// Describes where addr lies among the allocations, if the lock is free.
void describe_address(uintptr_t addr, char* buf, size_t cap) {
  buf[0] = 0;
  Driver& d = drv();
  if (!d.mu.try_lock()) return;
  for (auto& a : d.allocs) {
    uintptr_t base = a.first, lo = reinterpret_cast<uintptr_t>(a.second.map);
    if (addr < lo || addr >= lo + a.second.map_bytes) continue;
    if (addr >= base + a.second.size)
      snprintf(buf, cap, ", %llu bytes past the end of the allocation [0x%llx, +%zu)",
               (unsigned long long)(addr - base - a.second.size), (unsigned long long)base, a.second.size);
    else if (addr < base)
      snprintf(buf, cap, ", %llu bytes before the allocation [0x%llx, +%zu)", (unsigned long long)(base - addr),
               (unsigned long long)base, a.second.size);
    break;
  }
  d.mu.unlock();
}

// A fault in a kernel stops the process with one line naming it; any other
// goes to the handler that was there before (the Go runtime's, say).
void on_fault(int sig, siginfo_t* info, void* uctx) {
  const char* kernel = emu::running_kernel();
  if (kernel != nullptr) {
    char where[160], line[512];
    uintptr_t addr = reinterpret_cast<uintptr_t>(info->si_addr);
    describe_address(addr, where, sizeof where);
    const emu::Dim3 b = emu::tls_blockIdx, t = emu::tls_threadIdx;
    int n = snprintf(line, sizeof line,
                     "jkonet CUDA emulator: kernel %s, block (%u,%u,%u), thread (%u,%u,%u): illegal address 0x%llx%s "
                     "(CUDA_ERROR_ILLEGAL_ADDRESS on a GPU); stopping\n",
                     kernel, b.x, b.y, b.z, t.x, t.y, t.z, (unsigned long long)addr,
                     where[0] ? where : " (outside every allocation, or a fiber stack overflow: JKONET_EMU_STACK_KB)");
    if (n > 0) (void)!write(2, line, (size_t)std::min(n, (int)sizeof line - 1));
    _exit(70);
  }
  const struct sigaction& prev = sig == SIGBUS ? previous_bus : previous_segv;
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction != nullptr) {
      prev.sa_sigaction(sig, info, uctx);
      return;
    }
  } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
    prev.sa_handler(sig);
    return;
  }
  // No handler before ours: the default action, when the access repeats.
  signal(sig, SIG_DFL);
}

void install_fault_handler() {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &previous_segv);
  sigaction(SIGBUS, &sa, &previous_bus);
}

}  // namespace

// ---- exports ---------------------------------------------------------------------------

JK_EXPORT const char* jkEmuLastError(void) {
  LastError& e = last_error();
  std::lock_guard<std::mutex> lk(e.mu);
  last_error_copy = e.msg;  // stays valid until this thread asks again
  return last_error_copy.c_str();
}

// Sets the order in which the threads of a block run between barriers for
// later launches: "forward" (threadIdx order), "reverse" or "random:SEED"
// (runtime.cpp), overriding JKONET_EMU_ORDER. Returns CUDA_SUCCESS, or
// CUDA_ERROR_INVALID_VALUE for other text.
JK_EXPORT CUresult jkEmuSetOrder(const char* order) {
  emu::Order o;
  uint64_t seed;
  if (order == nullptr || !emu::parse_order(order, &o, &seed))
    return fail(CUDA_ERROR_INVALID_VALUE, std::string("jkEmuSetOrder: \"") + (order ? order : "(null)") +
                                              "\" is not forward, reverse or random:SEED");
  emu::set_order(o, seed);
  return CUDA_SUCCESS;
}

// Makes the nth launch (n > 0) of kernel, counted from now, fail as a GPU
// kernel fault would: asynchronously, reported by the next synchronisation
// (see Driver::inject_kernel). n = 0 cancels. Returns CUDA_SUCCESS, or
// CUDA_ERROR_INVALID_VALUE.
JK_EXPORT CUresult jkEmuInjectFault(const char* kernel, long n) {
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (kernel == nullptr || n < 0) return fail(CUDA_ERROR_INVALID_VALUE, "jkEmuInjectFault: no kernel, or n < 0");
  d.inject_kernel = kernel;
  d.inject_countdown = n;
  return CUDA_SUCCESS;
}

// Copies the counters (JSON, see Stats) into buf, NUL-terminated and cut at
// cap − 1 bytes; returns the length of the whole text. reset != 0 zeroes
// them after.
JK_EXPORT size_t jkEmuStats(char* buf, size_t cap, int reset) {
  Stats& st = stats();
  std::lock_guard<std::mutex> lk(st.mu);
  std::string j = stats_json_locked(st);
  write_log(buf, cap, j);
  if (reset) {
    st.launches.clear();
    st.graph_kernels.clear();
    st.graph_launches = st.synchronize = st.set_current = 0;
    for (int i = 0; i < 4; i++) st.copies[i] = st.bytes[i] = 0;
  }
  return j.size();
}

JK_EXPORT CUresult cuGetErrorName(CUresult error, const char** pStr) {
  if (pStr == nullptr) return CUDA_ERROR_INVALID_VALUE;
  const ErrorText* e = error_text(error);
  *pStr = e ? e->name : nullptr;
  return e ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

JK_EXPORT CUresult cuGetErrorString(CUresult error, const char** pStr) {
  if (pStr == nullptr) return CUDA_ERROR_INVALID_VALUE;
  const ErrorText* e = error_text(error);
  *pStr = e ? e->text : nullptr;
  return e ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

JK_EXPORT CUresult cuInit(unsigned int flags) {
  if (flags != 0) return fail(CUDA_ERROR_INVALID_VALUE, "cuInit: flags must be 0");
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (!d.initialized) {
    install_fault_handler();
    d.total = (size_t)emu::env_long("JKONET_EMU_MEMORY_MB", 8192, 1, 1L << 30) << 20;
    // JKONET_EMU_FAULT=KERNEL:N injects a fault into the Nth launch of KERNEL.
    if (const char* f = getenv("JKONET_EMU_FAULT")) {
      const char* colon = strrchr(f, ':');
      long n = colon ? strtol(colon + 1, nullptr, 10) : 0;
      if (colon == nullptr || colon == f || n <= 0)
        fprintf(stderr, "jkonet CUDA emulator: ignoring JKONET_EMU_FAULT=%s (want KERNEL:N, N > 0)\n", f);
      else {
        d.inject_kernel.assign(f, colon);
        d.inject_countdown = n;
      }
    }
    emu::worker_count();  // reads JKONET_EMU_THREADS now
    d.initialized = true;
  }
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuDriverGetVersion(int* version) {
  if (version == nullptr) return fail(CUDA_ERROR_INVALID_VALUE, "cuDriverGetVersion: NULL pointer");
  *version = 12020;
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuDeviceGetCount(int* count) {
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (CUresult r = need_init(d)) return r;
  if (count == nullptr) return fail(CUDA_ERROR_INVALID_VALUE, "cuDeviceGetCount: NULL pointer");
  *count = 1;
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuDeviceGet(CUdevice* device, int ordinal) {
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (CUresult r = need_init(d)) return r;
  if (device == nullptr) return fail(CUDA_ERROR_INVALID_VALUE, "cuDeviceGet: NULL pointer");
  if (CUresult r = need_device(ordinal)) return r;
  *device = 0;
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuDeviceGetName(char* name, int len, CUdevice dev) {
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (CUresult r = need_init(d)) return r;
  if (name == nullptr || len <= 0) return fail(CUDA_ERROR_INVALID_VALUE, "cuDeviceGetName: no buffer");
  if (CUresult r = need_device(dev)) return r;
  write_log(name, (size_t)len, "jkonet-gpu CUDA emulator (CPU)");
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuDeviceGetAttribute(int* pi, CUdevice_attribute attrib, CUdevice dev) {
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (CUresult r = need_init(d)) return r;
  if (pi == nullptr) return fail(CUDA_ERROR_INVALID_VALUE, "cuDeviceGetAttribute: NULL pointer");
  if (CUresult r = need_device(dev)) return r;
  switch (attrib) {
    case 1: *pi = 1024; break;        // MAX_THREADS_PER_BLOCK
    case 2: case 3: *pi = 1024; break;  // MAX_BLOCK_DIM_X, _Y
    case 4: *pi = 64; break;          // MAX_BLOCK_DIM_Z
    case 5: *pi = 2147483647; break;  // MAX_GRID_DIM_X
    case 6: case 7: *pi = 65535; break;  // MAX_GRID_DIM_Y, _Z
    case 8: *pi = kSharedDefault; break;  // MAX_SHARED_MEMORY_PER_BLOCK
    case 10: *pi = 32; break;         // WARP_SIZE
    case 13: *pi = 1000000; break;    // CLOCK_RATE, kHz
    case 16: *pi = emu::worker_count(); break;  // MULTIPROCESSOR_COUNT
    case 75: *pi = 9; break;          // COMPUTE_CAPABILITY_MAJOR
    case 76: *pi = 0; break;          // COMPUTE_CAPABILITY_MINOR
    case 81: *pi = 228 * 1024; break;  // MAX_SHARED_MEMORY_PER_MULTIPROCESSOR (as compute 9.0)
    case 82: *pi = 65536; break;       // MAX_REGISTERS_PER_MULTIPROCESSOR
    case 97: *pi = kSharedOptin; break;  // MAX_SHARED_MEMORY_PER_BLOCK_OPTIN
    default:
      return fail(CUDA_ERROR_INVALID_VALUE, "cuDeviceGetAttribute: attribute " + std::to_string(attrib) +
                                                " is not emulated");
  }
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice dev) {
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (CUresult r = need_init(d)) return r;
  if (bytes == nullptr) return fail(CUDA_ERROR_INVALID_VALUE, "cuDeviceTotalMem: NULL pointer");
  if (CUresult r = need_device(dev)) return r;
  *bytes = d.total;
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext* pctx, CUdevice dev) {
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (CUresult r = need_init(d)) return r;
  if (pctx == nullptr) return fail(CUDA_ERROR_INVALID_VALUE, "cuDevicePrimaryCtxRetain: NULL pointer");
  if (CUresult r = need_device(dev)) return r;
  d.refcount++;
  *pctx = primary();
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev) {
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (CUresult r = need_init(d)) return r;
  if (CUresult r = need_device(dev)) return r;
  if (d.refcount == 0) return fail(CUDA_ERROR_INVALID_CONTEXT, "cuDevicePrimaryCtxRelease: the context is not retained");
  if (--d.refcount == 0) {
    d.reset();  // like CUDA: the last release frees memory and modules
    write_stats_file();
  }
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuCtxSetCurrent(CUcontext ctx) {
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (CUresult r = need_init(d)) return r;
  if (ctx != nullptr && ctx != primary()) return fail(CUDA_ERROR_INVALID_CONTEXT, "cuCtxSetCurrent: unknown context");
  current_ctx = ctx;
  Stats& st = stats();
  std::lock_guard<std::mutex> slk(st.mu);
  st.set_current++;
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuCtxGetCurrent(CUcontext* pctx) {
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (CUresult r = need_init(d)) return r;
  if (pctx == nullptr) return fail(CUDA_ERROR_INVALID_VALUE, "cuCtxGetCurrent: NULL pointer");
  *pctx = current_ctx;
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuCtxSynchronize(void) {
  Driver& d = drv();
  {
    std::lock_guard<std::mutex> lk(d.mu);
    if (CUresult r = need_context(d)) return r;  // all work is synchronous: only errors remain
    if (CUresult r = no_capture(d, CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuCtxSynchronize")) return r;
    if (CUresult r = take_pending(d)) return r;
  }
  {
    Stats& st = stats();
    std::lock_guard<std::mutex> lk(st.mu);
    st.synchronize++;
  }
  write_stats_file();
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuMemGetInfo_v2(size_t* free_bytes, size_t* total_bytes) {
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (CUresult r = need_context(d)) return r;
  if (free_bytes == nullptr || total_bytes == nullptr) return fail(CUDA_ERROR_INVALID_VALUE, "cuMemGetInfo: NULL pointer");
  *free_bytes = d.total - d.used;
  *total_bytes = d.total;
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuMemAlloc_v2(CUdeviceptr* dptr, size_t bytes) {
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (CUresult r = need_context(d)) return r;
  if (dptr == nullptr) return fail(CUDA_ERROR_INVALID_VALUE, "cuMemAlloc: NULL pointer");
  if (CUresult r = no_capture(d, CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuMemAlloc")) return r;
  if (bytes == 0) return fail(CUDA_ERROR_INVALID_VALUE, "cuMemAlloc: size 0");
  if (bytes > d.total - d.used)
    return fail(CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc: " + std::to_string(bytes) + " bytes requested, " +
                                              std::to_string(d.total - d.used) + " of " + std::to_string(d.total) +
                                              " free (JKONET_EMU_MEMORY_MB)");
  Alloc a;
  void* p = guarded_alloc(bytes, &a);
  if (p == nullptr) return fail(CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc: the host is out of memory");
  memset(p, 0xFF, bytes);  // like fresh device memory, not zero; as NaNs, reads before writes show
  d.allocs[reinterpret_cast<CUdeviceptr>(p)] = a;
  d.used += bytes;
  *dptr = reinterpret_cast<CUdeviceptr>(p);
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuMemFree_v2(CUdeviceptr dptr) {
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (CUresult r = need_context(d)) return r;
  if (CUresult r = no_capture(d, CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuMemFree")) return r;
  auto it = d.allocs.find(dptr);
  if (it == d.allocs.end()) return fail(CUDA_ERROR_INVALID_VALUE, "cuMemFree: " + hex(dptr) + " is not an allocation");
  munmap(it->second.map, it->second.map_bytes);
  d.used -= it->second.size;
  d.allocs.erase(it);
  return CUDA_SUCCESS;
}

// The copies check their ranges under the lock and copy outside it.
JK_EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t n) {
  Driver& d = drv();
  {
    std::lock_guard<std::mutex> lk(d.mu);
    if (CUresult r = need_context(d)) return r;
    if (CUresult r = no_capture(d, CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, "cuMemcpyHtoD (the legacy stream)")) return r;
    if (n == 0) return CUDA_SUCCESS;
    if (src == nullptr) return fail(CUDA_ERROR_INVALID_VALUE, "cuMemcpyHtoD: NULL host pointer");
    if (CUresult r = need_range(d, dst, n, "cuMemcpyHtoD: destination")) return r;
  }
  memcpy(reinterpret_cast<void*>(dst), src, n);
  count_copy(kHtoD, n, false);
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t n) {
  Driver& d = drv();
  {
    std::lock_guard<std::mutex> lk(d.mu);
    if (CUresult r = need_context(d)) return r;
    if (CUresult r = no_capture(d, CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, "cuMemcpyDtoH (the legacy stream)")) return r;
    if (n == 0) return CUDA_SUCCESS;
    if (dst == nullptr) return fail(CUDA_ERROR_INVALID_VALUE, "cuMemcpyDtoH: NULL host pointer");
    if (CUresult r = need_range(d, src, n, "cuMemcpyDtoH: source")) return r;
    if (CUresult r = take_pending(d)) return r;
  }
  memcpy(dst, reinterpret_cast<const void*>(src), n);
  count_copy(kDtoH, n, true);
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) {
  Driver& d = drv();
  {
    std::lock_guard<std::mutex> lk(d.mu);
    if (CUresult r = need_context(d)) return r;
    if (CUresult r = no_capture(d, CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, "cuMemcpyDtoD (the legacy stream)")) return r;
    if (n == 0) return CUDA_SUCCESS;
    if (CUresult r = need_range(d, dst, n, "cuMemcpyDtoD: destination")) return r;
    if (CUresult r = need_range(d, src, n, "cuMemcpyDtoD: source")) return r;
  }
  memmove(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), n);
  count_copy(kDtoD, n, false);
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char value, size_t n) {
  Driver& d = drv();
  {
    std::lock_guard<std::mutex> lk(d.mu);
    if (CUresult r = need_context(d)) return r;
    if (CUresult r = no_capture(d, CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, "cuMemsetD8 (the legacy stream)")) return r;
    if (n == 0) return CUDA_SUCCESS;
    if (CUresult r = need_range(d, dst, n, "cuMemsetD8: destination")) return r;
  }
  memset(reinterpret_cast<void*>(dst), value, n);
  count_copy(kMemset, n, false);
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuModuleLoadDataEx(CUmodule* module, const void* image, unsigned int numOptions,
                                      CUjit_option* options, void** optionValues) {
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (CUresult r = need_context(d)) return r;
  if (module == nullptr || image == nullptr) return fail(CUDA_ERROR_INVALID_VALUE, "cuModuleLoadDataEx: NULL pointer");
  if (numOptions > 0 && (options == nullptr || optionValues == nullptr))
    return fail(CUDA_ERROR_INVALID_VALUE, "cuModuleLoadDataEx: options or their values are NULL");
  // The logs, sizes passed by value in the void* slots as CUDA does; every
  // other JIT option is accepted and ignored.
  char* log[2] = {nullptr, nullptr};  // info (3), error (5)
  size_t cap[2] = {0, 0};             // their sizes (4, 6)
  for (unsigned i = 0; i < numOptions; i++) {
    switch (options[i]) {
      case 3: log[0] = static_cast<char*>(optionValues[i]); break;
      case 4: cap[0] = (size_t)(uintptr_t)optionValues[i]; break;
      case 5: log[1] = static_cast<char*>(optionValues[i]); break;
      case 6: cap[1] = (size_t)(uintptr_t)optionValues[i]; break;
    }
  }
  std::unique_ptr<Module> m(new Module);
  std::string err = parse_ptx(static_cast<const char*>(image), m.get());
  std::string info = err.empty() ? "jkonet CUDA emulator: module " + m->name + ", " +
                                       std::to_string(m->entries.size()) + " entries"
                                 : "";
  size_t used[2] = {write_log(log[0], cap[0], info), write_log(log[1], cap[1], err)};
  for (unsigned i = 0; i < numOptions; i++) {  // the OUT half of the size options
    if (options[i] == 4) optionValues[i] = reinterpret_cast<void*>((uintptr_t)used[0]);
    if (options[i] == 6) optionValues[i] = reinterpret_cast<void*>((uintptr_t)used[1]);
  }
  if (!err.empty()) return fail(CUDA_ERROR_INVALID_IMAGE, err);
  Module* raw = m.get();
  d.modules[raw] = std::move(m);
  *module = reinterpret_cast<CUmodule>(raw);
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuModuleUnload(CUmodule hmod) {
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (CUresult r = need_context(d)) return r;
  auto it = d.modules.find(reinterpret_cast<Module*>(hmod));
  if (it == d.modules.end()) return fail(CUDA_ERROR_INVALID_HANDLE, "cuModuleUnload: not a loaded module");
  for (auto& f : it->second->functions) d.functions.erase(f.second.get());
  d.modules.erase(it);
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuModuleGetFunction(CUfunction* hfunc, CUmodule hmod, const char* name) {
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (CUresult r = need_context(d)) return r;
  if (hfunc == nullptr || name == nullptr) return fail(CUDA_ERROR_INVALID_VALUE, "cuModuleGetFunction: NULL pointer");
  auto it = d.modules.find(reinterpret_cast<Module*>(hmod));
  if (it == d.modules.end()) return fail(CUDA_ERROR_INVALID_HANDLE, "cuModuleGetFunction: not a loaded module");
  Module& m = *it->second;
  auto f = m.functions.find(name);
  if (f == m.functions.end()) {
    if (m.entries.count(name) == 0)
      return fail(CUDA_ERROR_NOT_FOUND, std::string("kernel ") + name + " is not an entry of module " + m.name);
    bool ambiguous;
    unsigned max_threads = 1024;
    size_t arg_bytes = 0;
    emu::Trampoline fn = emu::find_kernel(name, &ambiguous, &max_threads, &arg_bytes);
    if (fn == nullptr)
      return fail(CUDA_ERROR_NOT_FOUND, std::string("kernel ") + name + " of module " + m.name +
                                            (ambiguous ? " is defined twice in the emulator"
                                                       : " is not compiled into the emulator"));
    std::unique_ptr<Function> fun(new Function);
    fun->name = name;
    fun->fn = fn;
    fun->max_threads = max_threads;
    fun->arg_bytes = arg_bytes;
    d.functions.insert(fun.get());
    f = m.functions.emplace(name, std::move(fun)).first;
  }
  *hfunc = reinterpret_cast<CUfunction>(f->second.get());
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value) {
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (CUresult r = need_context(d)) return r;
  Function* f = reinterpret_cast<Function*>(hfunc);
  if (d.functions.count(f) == 0) return fail(CUDA_ERROR_INVALID_HANDLE, "cuFuncSetAttribute: not a function handle");
  if (attrib == kSharedOptinEntry) {
    if (value < 0 || value > kSharedOptin)
      return fail(CUDA_ERROR_INVALID_VALUE, f->name + ": dynamic shared memory of " + std::to_string(value) +
                                                " bytes is outside [0, " + std::to_string(kSharedOptin) + "]");
    f->max_shared = value;
    return CUDA_SUCCESS;
  }
  if (attrib == kCarveoutEntry) {  // a hint only
    if (value < -1 || value > 100)
      return fail(CUDA_ERROR_INVALID_VALUE, f->name + ": carveout " + std::to_string(value) + " is outside [-1, 100]");
    return CUDA_SUCCESS;
  }
  return fail(CUDA_ERROR_INVALID_VALUE, "cuFuncSetAttribute: attribute " + std::to_string(attrib) + " is not emulated");
}

namespace {

// Checks a launch of fn as cuLaunchKernel does (d.mu held).
CUresult check_launch(Function* fn, emu::Dim3 grid, emu::Dim3 block, unsigned shared, void** kernelParams,
                      void** extra) {
  const std::string& k = fn->name;
  if (extra != nullptr) return fail(CUDA_ERROR_INVALID_VALUE, k + ": `extra` is not supported; use kernelParams");
  if (kernelParams == nullptr) return fail(CUDA_ERROR_INVALID_VALUE, k + ": kernelParams is NULL");
  std::string dims =
      "block (" + std::to_string(block.x) + "," + std::to_string(block.y) + "," + std::to_string(block.z) + ")";
  if (block.x == 0 || block.y == 0 || block.z == 0 || block.x > 1024 || block.y > 1024 || block.z > 64 ||
      (uint64_t)block.x * block.y * block.z > 1024)
    return fail(CUDA_ERROR_INVALID_VALUE, k + ": " + dims + " is empty or over 1024 threads (z at most 64)");
  if ((uint64_t)block.x * block.y * block.z > fn->max_threads)
    return fail(CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES, k + ": " + dims + " has more threads than its __launch_bounds__ (" +
                                                        std::to_string(fn->max_threads) + ")");
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535)
    return fail(CUDA_ERROR_INVALID_VALUE, k + ": grid (" + std::to_string(grid.x) + "," + std::to_string(grid.y) + "," +
                                              std::to_string(grid.z) + ") is empty or too large");
  if (shared > (unsigned)fn->max_shared)
    return fail(CUDA_ERROR_INVALID_VALUE, k + ": " + std::to_string(shared) +
                                              " bytes of dynamic shared memory over the limit of " +
                                              std::to_string(fn->max_shared) +
                                              " (raise it with cuFuncSetAttribute MAX_DYNAMIC_SHARED_SIZE_BYTES, up to " +
                                              std::to_string(kSharedOptin) + ")");
  return CUDA_SUCCESS;
}

// Runs a checked launch of fn (d.mu not held), counted as a launch, or as a
// kernel node of a graph launch when node is set. After an injected fault
// nothing runs, and this launch may be the faulting one.
CUresult run_kernel(Driver& d, Function* fn, void** params, emu::Dim3 grid, emu::Dim3 block, unsigned shared,
                    bool node) {
  emu::LaunchSpec s;
  {
    std::lock_guard<std::mutex> lk(d.mu);
    if (d.pending != CUDA_SUCCESS) return CUDA_SUCCESS;
    if (d.inject_countdown > 0 && fn->name == d.inject_kernel && --d.inject_countdown == 0) {
      d.pending = CUDA_ERROR_LAUNCH_FAILED;
      return CUDA_SUCCESS;
    }
    s.name = fn->name;
    s.fn = fn->fn;
    s.params = params;
    s.grid = grid;
    s.block = block;
    s.shared_bytes = shared;
  }
  std::string msg;
  int r = emu::run_launch(s, &msg);
  if (r == CUDA_SUCCESS) {
    Stats& st = stats();
    std::lock_guard<std::mutex> lk(st.mu);
    (node ? st.graph_kernels : st.launches)[s.name]++;
    return CUDA_SUCCESS;
  }
  if (r == CUDA_ERROR_LAUNCH_FAILED) {  // as on a GPU, a failed kernel poisons the context
    std::lock_guard<std::mutex> lk(d.mu);
    d.sticky = r;
    d.sticky_msg = msg;
  }
  return fail(r, msg);
}

// Sets n bytes at dst to value, counted as a memset (d.mu held).
CUresult do_memset(Driver& d, CUdeviceptr dst, unsigned char value, size_t n, const char* call) {
  if (n == 0) return CUDA_SUCCESS;
  if (CUresult r = need_range(d, dst, n, call)) return r;
  memset(reinterpret_cast<void*>(dst), value, n);
  count_copy(kMemset, n, false);
  return CUDA_SUCCESS;
}

}  // namespace

JK_EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,
                                  unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,
                                  unsigned int sharedMemBytes, CUstream hStream, void** kernelParams, void** extra) {
  Driver& d = drv();
  Function* fn = reinterpret_cast<Function*>(f);
  emu::Dim3 grid{gridDimX, gridDimY, gridDimZ}, block{blockDimX, blockDimY, blockDimZ};
  {
    std::lock_guard<std::mutex> lk(d.mu);
    if (CUresult r = need_context(d)) return r;
    if (d.functions.count(fn) == 0) return fail(CUDA_ERROR_INVALID_HANDLE, "cuLaunchKernel: not a function handle");
    bool ok;
    Stream* st = find_stream(d, hStream, &ok);
    if (!ok) return fail(CUDA_ERROR_INVALID_HANDLE, fn->name + ": not a stream of this context");
    if (CUresult r = check_launch(fn, grid, block, sharedMemBytes, kernelParams, extra)) return r;
    if (st == nullptr) {
      if (CUresult r = no_capture(d, CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, fn->name + " on the legacy stream")) return r;
    } else if (st->capturing) {
      Node n;
      n.fn = fn;
      const unsigned char* arg = static_cast<const unsigned char*>(kernelParams[0]);
      n.arg.assign(arg, arg + fn->arg_bytes);
      n.grid = grid;
      n.block = block;
      n.shared = sharedMemBytes;
      st->graph->nodes.push_back(std::move(n));
      return CUDA_SUCCESS;
    }
  }
  return run_kernel(d, fn, kernelParams, grid, block, sharedMemBytes, false);
}

JK_EXPORT CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char value, size_t n, CUstream hStream) {
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (CUresult r = need_context(d)) return r;
  bool ok;
  Stream* st = find_stream(d, hStream, &ok);
  if (!ok) return fail(CUDA_ERROR_INVALID_HANDLE, "cuMemsetD8Async: not a stream of this context");
  if (st == nullptr) {
    if (CUresult r = no_capture(d, CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, "cuMemsetD8Async on the legacy stream")) return r;
  } else if (st->capturing) {
    if (n == 0) return CUDA_SUCCESS;
    if (CUresult r = need_range(d, dst, n, "cuMemsetD8Async: destination")) return r;
    Node node;
    node.dst = dst;
    node.bytes = n;
    node.value = value;
    st->graph->nodes.push_back(std::move(node));
    return CUDA_SUCCESS;
  }
  return do_memset(d, dst, value, n, "cuMemsetD8Async: destination");
}

// CU_STREAM_DEFAULT (0) or CU_STREAM_NON_BLOCKING (1); the emulator runs
// every stream's work at once, so both order alike.
JK_EXPORT CUresult cuStreamCreate(CUstream* phStream, unsigned int flags) {
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (CUresult r = need_context(d)) return r;
  if (phStream == nullptr || flags > 1) return fail(CUDA_ERROR_INVALID_VALUE, "cuStreamCreate: NULL pointer or flags > 1");
  std::unique_ptr<Stream> st(new Stream);
  Stream* raw = st.get();
  d.streams[raw] = std::move(st);
  *phStream = reinterpret_cast<CUstream>(raw);
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuStreamDestroy_v2(CUstream hStream) {
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (CUresult r = need_context(d)) return r;
  bool ok;
  Stream* st = find_stream(d, hStream, &ok);
  if (!ok || st == nullptr) return fail(CUDA_ERROR_INVALID_HANDLE, "cuStreamDestroy: not a stream of this context");
  d.streams.erase(st);
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuStreamSynchronize(CUstream hStream) {
  Driver& d = drv();
  {
    std::lock_guard<std::mutex> lk(d.mu);
    if (CUresult r = need_context(d)) return r;
    bool ok;
    Stream* st = find_stream(d, hStream, &ok);
    if (!ok) return fail(CUDA_ERROR_INVALID_HANDLE, "cuStreamSynchronize: not a stream of this context");
    if (st != nullptr && st->capturing)
      return fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuStreamSynchronize: the stream is capturing");
    if (st == nullptr)
      if (CUresult r = no_capture(d, CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, "cuStreamSynchronize (the legacy stream)"))
        return r;
    if (CUresult r = take_pending(d)) return r;
  }
  {
    Stats& st = stats();
    std::lock_guard<std::mutex> lk(st.mu);
    st.synchronize++;
  }
  write_stats_file();
  return CUDA_SUCCESS;
}

// mode: CU_STREAM_CAPTURE_MODE_GLOBAL (0), _THREAD_LOCAL (1) or _RELAXED
// (2), which decides whose calls the capture refuses (no_capture).
JK_EXPORT CUresult cuStreamBeginCapture_v2(CUstream hStream, int mode) {
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (CUresult r = need_context(d)) return r;
  bool ok;
  Stream* st = find_stream(d, hStream, &ok);
  if (!ok) return fail(CUDA_ERROR_INVALID_HANDLE, "cuStreamBeginCapture: not a stream of this context");
  if (st == nullptr)
    return fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuStreamBeginCapture: the legacy stream cannot be captured");
  if (st->capturing) return fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuStreamBeginCapture: already capturing");
  if (mode < 0 || mode > 2) return fail(CUDA_ERROR_INVALID_VALUE, "cuStreamBeginCapture: mode " + std::to_string(mode));
  st->capturing = true;
  st->mode = mode;
  st->owner = std::this_thread::get_id();
  st->invalidated.clear();
  st->graph.reset(new Graph);
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuStreamEndCapture(CUstream hStream, CUgraph* phGraph) {
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (CUresult r = need_init(d)) return r;
  if (phGraph == nullptr) return fail(CUDA_ERROR_INVALID_VALUE, "cuStreamEndCapture: NULL pointer");
  bool ok;
  Stream* st = find_stream(d, hStream, &ok);
  if (!ok) return fail(CUDA_ERROR_INVALID_HANDLE, "cuStreamEndCapture: not a stream of this context");
  if (st == nullptr || !st->capturing)
    return fail(CUDA_ERROR_STREAM_CAPTURE_UNMATCHED, "cuStreamEndCapture: the stream is not capturing");
  st->capturing = false;
  std::unique_ptr<Graph> g = std::move(st->graph);
  if (!st->invalidated.empty())
    return fail(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, "cuStreamEndCapture: the capture was invalidated by " +
                                                           st->invalidated);
  Graph* raw = g.get();
  d.graphs[raw] = std::move(g);
  *phGraph = reinterpret_cast<CUgraph>(raw);
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuGraphInstantiateWithFlags(CUgraphExec* phGraphExec, CUgraph hGraph, unsigned long long flags) {
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (CUresult r = need_context(d)) return r;
  if (phGraphExec == nullptr) return fail(CUDA_ERROR_INVALID_VALUE, "cuGraphInstantiate: NULL pointer");
  if (flags != 0) return fail(CUDA_ERROR_INVALID_VALUE, "cuGraphInstantiate: flags are not emulated");
  auto it = d.graphs.find(reinterpret_cast<Graph*>(hGraph));
  if (it == d.graphs.end()) return fail(CUDA_ERROR_INVALID_HANDLE, "cuGraphInstantiate: not a graph");
  std::unique_ptr<Graph> e(new Graph(*it->second));
  Graph* raw = e.get();
  d.execs[raw] = std::move(e);
  *phGraphExec = reinterpret_cast<CUgraphExec>(raw);
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuGraphDestroy(CUgraph hGraph) {
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (CUresult r = need_init(d)) return r;
  if (d.graphs.erase(reinterpret_cast<Graph*>(hGraph)) == 0)
    return fail(CUDA_ERROR_INVALID_HANDLE, "cuGraphDestroy: not a graph");
  return CUDA_SUCCESS;
}

JK_EXPORT CUresult cuGraphExecDestroy(CUgraphExec hGraphExec) {
  Driver& d = drv();
  std::lock_guard<std::mutex> lk(d.mu);
  if (CUresult r = need_init(d)) return r;
  if (d.execs.erase(reinterpret_cast<Graph*>(hGraphExec)) == 0)
    return fail(CUDA_ERROR_INVALID_HANDLE, "cuGraphExecDestroy: not an instantiated graph");
  return CUDA_SUCCESS;
}

// Runs the graph's nodes in capture order, now.
JK_EXPORT CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream) {
  Driver& d = drv();
  Graph* g;
  {
    std::lock_guard<std::mutex> lk(d.mu);
    if (CUresult r = need_context(d)) return r;
    auto it = d.execs.find(reinterpret_cast<Graph*>(hGraphExec));
    if (it == d.execs.end()) return fail(CUDA_ERROR_INVALID_HANDLE, "cuGraphLaunch: not an instantiated graph");
    g = it->second.get();
    bool ok;
    Stream* st = find_stream(d, hStream, &ok);
    if (!ok) return fail(CUDA_ERROR_INVALID_HANDLE, "cuGraphLaunch: not a stream of this context");
    if (st != nullptr && st->capturing)
      return fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuGraphLaunch: capturing a graph launch is not emulated");
    if (st == nullptr)
      if (CUresult r = no_capture(d, CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, "cuGraphLaunch on the legacy stream")) return r;
    Stats& s = stats();
    std::lock_guard<std::mutex> slk(s.mu);
    s.graph_launches++;
  }
  for (Node& n : g->nodes) {
    if (n.fn != nullptr) {
      void* params[1] = {n.arg.data()};
      if (CUresult r = run_kernel(d, n.fn, params, n.grid, n.block, n.shared, true)) return r;
      continue;
    }
    std::lock_guard<std::mutex> lk(d.mu);
    if (d.pending != CUDA_SUCCESS) continue;
    if (CUresult r = do_memset(d, n.dst, n.value, n.bytes, "cuGraphLaunch: memset node")) return r;
  }
  return CUDA_SUCCESS;
}
