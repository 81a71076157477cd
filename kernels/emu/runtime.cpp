// runtime.cpp: the execution engine of the CUDA emulator.
//
// A launch's blocks are shared out to a pool of workers (OS threads; the
// launching thread is worker 0), each taking whole blocks. A worker runs the
// threads of a block as fibers on its own OS thread, one after the other: a
// fiber runs until it reaches __syncthreads or returns, then switches
// straight to the next fiber of the pass. When the last fiber of a pass
// reaches the barrier, every thread has arrived and the next pass starts; if
// instead some threads have returned while others wait at the barrier, the
// block has diverged and the launch fails.
//
// The order of the threads within a pass is threadIdx order (forward), its
// reverse, or a seeded random permutation drawn afresh for every pass of
// every block (JKONET_EMU_ORDER=forward|reverse|random:SEED, or
// jkEmuSetOrder). A missing barrier lets a thread read what another writes
// in the same pass: forward order exposes readers that come before their
// writer, reverse order those that come after, so a kernel that passes under
// both (and random) has no such race at its barriers.
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "emu.h"

#if defined(__x86_64__) && !defined(JK_EMU_UCONTEXT)
#define JK_ASM_SWITCH 1
#else
#include <ucontext.h>
#endif

// Fiber stacks are registered with valgrind, so that it does not mistake a
// switch for a huge stack frame.
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define JK_VALGRIND 1
#endif
#endif

// AddressSanitizer must be told about every stack switch.
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define JK_ASAN 1
#endif

namespace emu {

thread_local Dim3 tls_threadIdx, tls_blockIdx, tls_blockDim, tls_gridDim;

// ---- kernel registry -------------------------------------------------------

namespace {
struct Kernel {
  Trampoline fn;
  unsigned max_threads;
  size_t arg_bytes;
};
struct Registry {
  std::map<std::string, Kernel> kernels;
  std::set<std::string> duplicates;
};
// Function-local, so registrars running before main in any order find it.
Registry& registry() {
  static Registry r;
  return r;
}
}  // namespace

Registrar::Registrar(const char* name, Trampoline t, unsigned max_threads, unsigned long arg_bytes) {
  Registry& r = registry();
  if (!r.kernels.emplace(name, Kernel{t, max_threads, arg_bytes}).second) r.duplicates.insert(name);
}

Trampoline find_kernel(const std::string& name, bool* ambiguous, unsigned* max_threads, size_t* arg_bytes) {
  Registry& r = registry();
  *ambiguous = r.duplicates.count(name) != 0;
  auto it = r.kernels.find(name);
  if (it == r.kernels.end() || *ambiguous) return nullptr;
  *max_threads = it->second.max_threads;
  *arg_bytes = it->second.arg_bytes;
  return it->second.fn;
}

// ---- settings --------------------------------------------------------------

long env_long(const char* name, long def, long lo, long hi) {
  const char* s = getenv(name);
  if (s == nullptr || *s == 0) return def;
  char* end;
  long v = strtol(s, &end, 10);
  if (*end != 0 || v < lo || v > hi) {
    fprintf(stderr, "jkonet CUDA emulator: ignoring %s=%s (want an integer in [%ld, %ld])\n", name, s, lo, hi);
    return def;
  }
  return v;
}

namespace {
size_t page_size() {
  static const size_t p = (size_t)sysconf(_SC_PAGESIZE);
  return p;
}

// Bytes of one fiber stack, a whole number of pages.
size_t stack_bytes() {
  static const size_t b = [] {
    size_t kb = (size_t)env_long("JKONET_EMU_STACK_KB", 64, 16, 1 << 20);
    return (kb * 1024 + page_size() - 1) / page_size() * page_size();
  }();
  return b;
}
}  // namespace

int worker_count() {
  static const int n = [] {
    long def = (long)std::thread::hardware_concurrency();
    return (int)env_long("JKONET_EMU_THREADS", def > 0 ? def : 1, 1, 4096);
  }();
  return n;
}

// ---- thread order ----------------------------------------------------------

namespace {
struct OrderSetting {
  std::mutex mu;
  Order order = Order::kForward;
  uint64_t seed = 0;
  bool read_env = false;
};
OrderSetting& order_setting() {
  static OrderSetting* o = new OrderSetting;  // never destroyed
  return *o;
}
}  // namespace

bool parse_order(const char* text, Order* order, uint64_t* seed) {
  if (text == nullptr || strcmp(text, "forward") == 0 || *text == 0) {
    *order = Order::kForward;
    *seed = 0;
    return true;
  }
  if (strcmp(text, "reverse") == 0) {
    *order = Order::kReverse;
    *seed = 0;
    return true;
  }
  if (strncmp(text, "random", 6) == 0) {
    uint64_t sd = 1;
    if (text[6] == ':') {
      char* end;
      errno = 0;
      sd = strtoull(text + 7, &end, 10);
      if (text[7] < '0' || text[7] > '9' || *end != 0 || errno != 0) return false;
    } else if (text[6] != 0) {
      return false;
    }
    *order = Order::kRandom;
    *seed = sd;
    return true;
  }
  return false;
}

void set_order(Order order, uint64_t seed) {
  OrderSetting& o = order_setting();
  std::lock_guard<std::mutex> lk(o.mu);
  o.read_env = true;
  o.order = order;
  o.seed = seed;
}

Order current_order(uint64_t* seed) {
  OrderSetting& o = order_setting();
  std::lock_guard<std::mutex> lk(o.mu);
  if (!o.read_env) {
    o.read_env = true;
    const char* e = getenv("JKONET_EMU_ORDER");
    if (e != nullptr && !parse_order(e, &o.order, &o.seed))
      fprintf(stderr, "jkonet CUDA emulator: ignoring JKONET_EMU_ORDER=%s (want forward, reverse or random:SEED)\n", e);
  }
  *seed = o.seed;
  return o.order;
}

// ---- contexts --------------------------------------------------------------

namespace {
#ifdef JK_ASM_SWITCH
extern "C" void jk_emu_switch(void** save_sp, void* load_sp);  // switch_x86_64.S

struct Context {
  void* sp;
};

// The frame jk_emu_switch pops: control word, six callee-saved registers,
// then `entry` as the return address (and a zero where entry would find
// its own return address, 16-byte aligned as after a call).
void ctx_init(Context* c, char* lo, size_t size, void (*entry)(), uint64_t fp_control) {
  uint64_t* sp = reinterpret_cast<uint64_t*>(reinterpret_cast<uintptr_t>(lo + size) & ~uintptr_t(15));
  *--sp = 0;
  *--sp = reinterpret_cast<uint64_t>(entry);
  for (int r = 0; r < 6; r++) *--sp = 0;
  *--sp = fp_control;
  c->sp = sp;
}

inline void ctx_switch(Context* from, Context* to) { jk_emu_switch(&from->sp, to->sp); }

// MXCSR in the low half, x87 control word above, as jk_emu_switch stores them.
uint64_t fp_control() {
  uint16_t cw;
  asm volatile("fnstcw %0" : "=m"(cw));
  return (uint64_t)__builtin_ia32_stmxcsr() | (uint64_t)cw << 32;
}
#else
// Portable and slow (swapcontext makes a system call for the signal mask).
struct Context {
  ucontext_t uc;
};

void ctx_init(Context* c, char* lo, size_t size, void (*entry)(), uint64_t) {
  getcontext(&c->uc);
  c->uc.uc_stack.ss_sp = lo;
  c->uc.uc_stack.ss_size = size;
  c->uc.uc_link = nullptr;
  makecontext(&c->uc, entry, 0);
}

inline void ctx_switch(Context* from, Context* to) { swapcontext(&from->uc, &to->uc); }

uint64_t fp_control() { return 0; }
#endif

// A fiber stack of stack_bytes() with a PROT_NONE page below it, so that an
// overflow faults instead of running into the neighbouring stack. Returns
// its low end, or nullptr.
char* new_stack() {
  size_t guard = page_size(), size = stack_bytes();
  void* p = mmap(nullptr, guard + size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                 -1, 0);
  if (p == MAP_FAILED) return nullptr;
  if (mprotect(p, guard, PROT_NONE) != 0) {
    munmap(p, guard + size);
    return nullptr;
  }
  char* lo = static_cast<char*>(p) + guard;
#ifdef JK_VALGRIND
  VALGRIND_STACK_REGISTER(lo, lo + size);
#endif
  return lo;
}

// ---- workers ---------------------------------------------------------------

struct Job {
  const LaunchSpec* spec;
  uint64_t nblocks;
  Order order = Order::kForward;
  uint64_t seed = 0;
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  int code = kSuccess;
  std::string msg;

  // The first failure wins; the workers then stop taking blocks.
  void fail(int c, const std::string& m) {
    std::lock_guard<std::mutex> lk(mu);
    if (!failed.load()) {
      code = c;
      msg = m;
      failed.store(true);
    }
  }
};

struct Worker {
  std::vector<char*> stacks;  // kept across blocks and launches
  std::vector<Context> fibers;
  Context sched;              // run_block's own context
  std::vector<Dim3> tid;      // threadIdx of each fiber, for blocks of tid_dims
  Dim3 tid_dims{0, 0, 0};
  unsigned char* shared = nullptr;
  size_t shared_size = 0;
  const LaunchSpec* spec = nullptr;
  unsigned nthreads = 0, cur = 0, done = 0;
  // The order of the threads in the pass: fiber perm[pos] runs now.
  std::vector<unsigned> perm;
  unsigned pos = 0;
  Order order = Order::kForward;
  uint64_t seed = 0, block = 0, pass = 0;
  Dim3* tid_slot = nullptr;   // &tls_threadIdx of the OS thread running the block
  uint64_t fp = 0;
#ifdef JK_ASAN
  const void* sched_lo = nullptr;
  size_t sched_size = 0;
  bool diverged = false;  // fibers were abandoned mid-kernel
#endif
};

thread_local Worker* tls_worker;  // set while this OS thread runs blocks

uint64_t splitmix64(uint64_t* x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Draws the order of pass w->pass of the block (random order only: forward
// and reverse keep the table prepare made).
void shuffle(Worker* w) {
  if (w->order != Order::kRandom) return;
  uint64_t state = w->seed ^ (w->block * 0xD1B54A32D192ED03ull) ^ (w->pass * 0x8CB92BA72F3D8DD7ull);
  for (unsigned i = 0; i < w->nthreads; i++) w->perm[i] = i;
  for (unsigned i = w->nthreads; i > 1; i--) {
    unsigned j = (unsigned)(splitmix64(&state) % i);
    std::swap(w->perm[i - 1], w->perm[j]);
  }
}

// Switches from `from` to `to`; to_lo/to_size bound the stack of `to` (for
// AddressSanitizer only); `exiting` when `from` will never be resumed.
inline void jump(Context* from, Context* to, const void* to_lo, size_t to_size, bool exiting) {
#ifdef JK_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(exiting ? nullptr : &fake, to_lo, to_size);
  ctx_switch(from, to);
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
  (void)to_lo, (void)to_size, (void)exiting;
  ctx_switch(from, to);
#endif
}

// Called by fiber w->cur at a barrier or when it has returned: hands the
// OS thread to the next fiber of the pass, or ends the pass.
void advance(Worker* w, bool exiting) {
  const unsigned i = w->cur;
  unsigned pos = w->pos + 1;
  if (pos == w->nthreads) {
    // End of a pass: each thread is at the barrier or has returned.
    if (w->done != 0) {  // the block is finished, or has diverged
#ifdef JK_ASAN
      jump(&w->fibers[i], &w->sched, w->sched_lo, w->sched_size, exiting);
#else
      jump(&w->fibers[i], &w->sched, nullptr, 0, exiting);
#endif
      return;
    }
    // All at the barrier: the next pass starts.
    pos = 0;
    w->pass++;
    shuffle(w);
  }
  w->pos = pos;
  const unsigned n = w->perm[pos];
  if (n == i) return;  // this fiber runs on (one thread, or first again)
  w->cur = n;
  *w->tid_slot = w->tid[n];
  jump(&w->fibers[i], &w->fibers[n], w->stacks[n], stack_bytes(), exiting);
}

void fiber_entry() {
  Worker* w = tls_worker;
#ifdef JK_ASAN
  // The first fiber of the first pass is entered from run_block: learn the
  // worker's own stack.
  const bool first = w->pass == 0 && w->pos == 0;
  __sanitizer_finish_switch_fiber(nullptr, first ? &w->sched_lo : nullptr, first ? &w->sched_size : nullptr);
#endif
  w->spec->fn(w->spec->params);
  w->done++;
  advance(w, true);
  abort();  // unreachable: nothing switches back to a finished fiber
}

// Sizes the worker for the launch: a stack per thread, the threadIdx table,
// the shared memory buffer.
int prepare(Worker& w, const LaunchSpec& s, std::string* msg) {
  const unsigned n = s.block.x * s.block.y * s.block.z;
  while (w.stacks.size() < n) {
    char* st = new_stack();
    if (st == nullptr) {
      *msg = s.name + ": cannot map a fiber stack (" + std::to_string(w.stacks.size()) + " of " + std::to_string(n) +
             " mapped): " + strerror(errno);
      return kOutOfResources;
    }
    w.stacks.push_back(st);
  }
  w.fibers.resize(n);
  if (w.tid.size() != n || w.tid_dims.x != s.block.x || w.tid_dims.y != s.block.y) {
    w.tid.resize(n);
    for (unsigned i = 0; i < n; i++) w.tid[i] = Dim3{i % s.block.x, i / s.block.x % s.block.y, i / (s.block.x * s.block.y)};
    w.tid_dims = s.block;
  }
  // Exactly the launch's size, so that valgrind or ASan see a kernel run
  // past the end of its shared memory.
  const size_t need = std::max<size_t>(s.shared_bytes, 1);
  if (w.shared_size != need) {
    free(w.shared);
    void* p = nullptr;
    w.shared_size = posix_memalign(&p, 64, need) == 0 ? need : 0;
    w.shared = static_cast<unsigned char*>(p);
    if (w.shared == nullptr) {
      *msg = s.name + ": cannot allocate " + std::to_string(need) + " bytes of shared memory";
      return kOutOfResources;
    }
  }
  w.perm.resize(n);
  for (unsigned i = 0; i < n; i++) w.perm[i] = w.order == Order::kReverse ? n - 1 - i : i;
  w.spec = &s;
  w.nthreads = n;
  w.fp = fp_control();
  return kSuccess;
}

void run_block(Worker& w, Job& job, uint64_t b) {
  const LaunchSpec& s = *w.spec;
  tls_blockIdx = Dim3{unsigned(b % s.grid.x), unsigned(b / s.grid.x % s.grid.y),
                      unsigned(b / ((uint64_t)s.grid.x * s.grid.y))};
  // 0xFF bytes (NaN as float or double) catch reads before writes.
  memset(w.shared, 0xFF, s.shared_bytes);
#ifdef JK_ASAN
  // Clear the redzones of frames the last block abandoned: only the few at
  // the top of each stack (fiber_entry's) unless fibers were left mid-kernel.
  const size_t dirty = w.diverged ? stack_bytes() : std::min<size_t>(stack_bytes(), 8192);
  for (size_t i = 0; i < w.stacks.size(); i++) ASAN_UNPOISON_MEMORY_REGION(w.stacks[i] + stack_bytes() - dirty, dirty);
  w.diverged = false;
#endif
  for (unsigned i = 0; i < w.nthreads; i++) ctx_init(&w.fibers[i], w.stacks[i], stack_bytes(), fiber_entry, w.fp);
  w.block = b;
  w.pass = 0;
  shuffle(&w);
  w.pos = 0;
  w.cur = w.perm[0];
  w.done = 0;
  *w.tid_slot = w.tid[w.cur];
  jump(&w.sched, &w.fibers[w.cur], w.stacks[w.cur], stack_bytes(), false);
  if (w.done != w.nthreads) {
#ifdef JK_ASAN
    w.diverged = true;
#endif
    const Dim3& bi = tls_blockIdx;
    job.fail(kLaunchFailed, s.name + ": block (" + std::to_string(bi.x) + "," + std::to_string(bi.y) + "," +
                                std::to_string(bi.z) + "): __syncthreads reached by " +
                                std::to_string(w.nthreads - w.done) + " of " + std::to_string(w.nthreads) +
                                " threads (the others returned)");
  }
}

// One worker's part of a launch: blocks until none are left.
void work(Worker& w, Job& job) {
  std::string msg;
  w.order = job.order;
  w.seed = job.seed;
  int code = prepare(w, *job.spec, &msg);
  if (code != kSuccess) {
    job.fail(code, msg);
    return;
  }
  tls_worker = &w;
  w.tid_slot = &tls_threadIdx;
  tls_blockDim = job.spec->block;
  tls_gridDim = job.spec->grid;
  while (!job.failed.load(std::memory_order_relaxed)) {
    uint64_t b = job.next.fetch_add(1, std::memory_order_relaxed);
    if (b >= job.nblocks) break;
    run_block(w, job, b);
  }
  tls_worker = nullptr;
}

// ---- the pool --------------------------------------------------------------

struct Pool {
  std::mutex mu;
  std::condition_variable wake, idle;
  uint64_t generation = 0;  // bumped per launch that uses helpers
  Job* job = nullptr;
  unsigned helpers = 0;     // helpers 1..helpers take part in this job
  unsigned running = 0;     // of those, not yet finished
  bool started = false;
  std::vector<std::unique_ptr<Worker>> workers;  // [0]: the launching thread

  Pool() {
    for (int i = 0; i < worker_count(); i++) workers.emplace_back(new Worker);
  }

  void helper(unsigned k) {
    // Faults in kernels reach the driver's handler (driver.cpp), on a stack
    // of their own, so that a fiber stack overflow can still be reported.
    sigset_t faults;
    sigemptyset(&faults);
    sigaddset(&faults, SIGSEGV);
    sigaddset(&faults, SIGBUS);
    pthread_sigmask(SIG_UNBLOCK, &faults, nullptr);
    stack_t alt;
    alt.ss_size = 64 * 1024;
    alt.ss_sp = mmap(nullptr, alt.ss_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    alt.ss_flags = 0;
    if (alt.ss_sp != MAP_FAILED) sigaltstack(&alt, nullptr);
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lk(mu);
    for (;;) {
      wake.wait(lk, [&] { return generation != seen; });
      seen = generation;
      if (k > helpers) continue;
      Job* j = job;
      lk.unlock();
      work(*workers[k], *j);
      lk.lock();
      if (--running == 0) idle.notify_one();
    }
  }

  void start() {
    if (started) return;
    started = true;
    // The helpers live as long as the process, so the library must too:
    // pin it against dlclose.
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(&worker_count), &info) != 0 && info.dli_fname != nullptr)
      dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
    // With every signal blocked, the helpers inherit a full mask: signals
    // for the process go to the caller's threads, never onto a fiber stack.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (size_t k = 1; k < workers.size(); k++) std::thread([this, k] { helper((unsigned)k); }).detach();
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
};

// Never destroyed: detached helpers may still wait on it at exit.
Pool& pool() {
  static Pool* p = new Pool;
  return *p;
}
}  // namespace

int run_launch(const LaunchSpec& s, std::string* msg) {
  static std::mutex launch_mu;
  std::lock_guard<std::mutex> serial(launch_mu);
  Pool& p = pool();
  Job job;
  job.spec = &s;
  job.nblocks = (uint64_t)s.grid.x * s.grid.y * s.grid.z;
  job.order = current_order(&job.seed);
  const unsigned helpers = (unsigned)std::min<uint64_t>(p.workers.size() - 1, job.nblocks - 1);
  if (helpers > 0) {
    p.start();
    std::lock_guard<std::mutex> lk(p.mu);
    p.job = &job;
    p.helpers = helpers;
    p.running = helpers;
    p.generation++;
    p.wake.notify_all();
  }
  work(*p.workers[0], job);
  if (helpers > 0) {
    std::unique_lock<std::mutex> lk(p.mu);
    p.idle.wait(lk, [&] { return p.running == 0; });
  }
  if (!job.failed.load()) return kSuccess;
  *msg = job.msg;
  return job.code;
}

const char* running_kernel() {
  Worker* w = tls_worker;
  return w != nullptr && w->spec != nullptr ? w->spec->name.c_str() : nullptr;
}

// ---- what the kernels call -------------------------------------------------

void syncthreads() {
  Worker* w = tls_worker;
  if (w != nullptr) advance(w, false);  // outside a kernel there is nothing to wait for
}

unsigned char* shared_memory() {
  Worker* w = tls_worker;
  return w != nullptr ? w->shared : nullptr;
}

}  // namespace emu
