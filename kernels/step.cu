// step.cu: one JKOnet* training step on the GPU, for every network variant,
// as a handful of kernels over a batch of coupling pairs whose data stay on
// the device (the loss and its derivation are those of networks.Net.LossGrad
// and networks.MLP; the comments give the formulas, networks/mlp.go the long
// derivation).
//
// A step on pairs order[lo : lo+B] runs
//
//   mlp_forward  (V)    ∇V(y_i) for the B pairs                     -> gradV
//   mlp_forward  (U)    ∇U(y_i − y′) for every interaction row      -> rowGrad
//   pair_means          m_a(i) = mean of ∇U over the rows of (i, a)  -> meanU
//   residuals           r_a(i), the loss terms and the upstreams     -> upV, upU, lossPartial
//   mlp_backward (V, U) parameter gradients, one partial per block   -> partialV, partialU
//   reduce_partials     the gradient, summed over the blocks         -> grad
//   finish_step         loss, NaN stop, β's gradient, clipping, Adam -> params, m, v, accum
//
// (the U kernels only for variants with an interaction network). Every sum
// runs in a fixed order, so a step is deterministic for a given launch
// geometry. Each kernel comes in float and double storage (suffix _f32,
// _f64). In double in both: the interaction means over a pair's rows, the
// residuals and loss terms, the parameter gradients' sums across tiles (in
// each thread's registers for W̄2 and its slice of the column sums, in the
// block's partial row for W̄1), across the column sums' slices and across
// blocks, the norms, clipping and Adam. In the storage type, within a tile:
// the products within a row (tile_product's two halves of k, added; ∇V's
// output in sliced_sums' slices, added in order) and the sums over the
// tile's rows that make its parameter gradients (W̄2 over all 32, the
// column sums over slices of 8, W̄1 in slices).
//
// Interaction rows. Pair i of the batch owns rows rowStart[lo+i] −
// rowStart[lo] onwards: with the exact mean, one row per point y′ of the
// target population (set 0); with subsamples, 2S rows, set a = j / S holding
// the samples y′ = pop[Index(seed, step, pair, j)] (philox.cuh).
//
// Launch geometry: 256 threads per block; the MLP kernels take tiles of 32
// rows, grid-stride, and need mlpSharedBytes(in, dx) of dynamic shared
// memory (engine/cuda computes the same formula). Every thread of an MLP
// block works in every section: the 32×64 products in 4×4 register tiles,
// the k range split between the block's two halves (sliced K); the column
// sums over a tile's rows in four slices of 8 rows; the small sums (∇V's
// output, W̄1) in as many slices as leave no thread idle (sliced_sums); the
// row tables (a row's pair, its target point and, with subsamples, its
// Philox draw) of the block's next 8 tiles at once, a row a thread.
// pair_means gives each mean as many threads as its set has rows (a power
// of two, up to the block), several means a block.
//
// What changes from one epoch to the next is in device memory, not in the
// kernels' arguments: the order, the rows' prefix sums and a StepRecord per
// step (its number, Σw, Adam's bias corrections), which the host uploads
// once an epoch. So the launches of an epoch's steps are the same every
// epoch, and the host captures them once as a CUDA graph and replays it.
#include "jk_cuda.h"
#include "philox.cuh"

namespace {

constexpr int H = 64;        // hidden width (networks.HiddenWidth)
constexpr int LD = H + 1;    // row stride of the rows×H tiles and of W2 in shared memory (no bank conflicts)
constexpr int TILE = 32;     // rows per tile
constexpr int THREADS = 256; // threads per block of every kernel but finish_step
constexpr int FINISH_THREADS = 1024;
constexpr int HALF = THREADS / 2;        // a product's k slice: threads [0, HALF) take the low half of k
constexpr int ROW_SLICES = THREADS / H;  // the column sections: thread (j, slice) takes rows slice·8 … +7
static_assert(HALF == 8 * 16 && TILE == 4 * 8, "tile_product's 4×4 register tiles cover TILE×H with HALF threads");
static_assert(ROW_SLICES * H == THREADS && TILE % ROW_SLICES == 0, "column sections cover TILE×H");
// The block's threads draw the row tables of its next TABLE_TILES tiles at
// once, a row a thread (the dependent reads of a row's pair and target
// population, and its Philox draw), instead of one warp a tile while the
// others wait.
constexpr int TABLE_TILES = THREADS / TILE;

// The six tensors of an MLP in its flat parameter view (networks.MLP):
// [W1 (in×H) | b1 (H) | W2 (H×H) | b2 (H) | W3 (H) | b3 (1)], row-major.
struct MlpOffsets {
  int64_t w1, b1, w2, b2, w3, b3, count;
};

__device__ __forceinline__ MlpOffsets mlp_offsets(int64_t in) {
  MlpOffsets o;
  o.w1 = 0;
  o.b1 = in * H;
  o.w2 = o.b1 + H;
  o.b2 = o.w2 + H * H;
  o.w3 = o.b2 + H;
  o.b3 = o.w3 + H;
  o.count = o.b3 + 1;
  return o;
}

// softplus(z) = max(z, 0) + log1p(e^(−|z|)) and σ(z) = softplus′(z), from the
// same e^(−|z|) so neither overflows.
template <typename T>
__device__ __forceinline__ void softplus_sigmoid(T z, T* sp, T* sg) {
  T e = jk_exp(-jk_abs(z));
  T l = jk_log1p(e);
  T r = T(1) / (T(1) + e);
  *sp = (z > T(0) ? z : T(0)) + l;
  *sg = z >= T(0) ? r : e * r;
}

template <typename T>
__device__ __forceinline__ T sigmoid(T z) {
  T e = jk_exp(-jk_abs(z));
  T r = T(1) / (T(1) + e);
  return z >= T(0) ? r : e * r;
}

}  // namespace

// What the kernels read of their step, one per step of the epoch, written by
// the host with the epoch's order (the Go side's stepRecord). All 8 bytes
// wide.
struct StepRecord {
  uint64_t step;  // the global step number (interaction samples, the failed step)
  double wsum;    // Σ w over the step's batch
  double c1, c2;  // 1 − β1ᵗ, 1 − β2ᵗ for t = step + 1 (Adam's bias corrections)
};

// Where an MLP kernel takes its rows from.
enum RowSource : int64_t {
  SOURCE_POTENTIAL = 0,    // row b is batch pair b: p = y (or [y, t] for time-potential)
  SOURCE_INTERACTION = 1,  // interaction rows: p = y_i − y′
};

// The argument of mlp_forward and mlp_backward. All fields are 8 bytes wide,
// in the order of the Go struct that mirrors it (mlpArgs in
// engine/cuda/backend.go).
struct MlpArgs {
  const void* params;  // the network's parameter view (T)
  int64_t in;          // input dimension: d, or d+1 for time-potential's V
  int64_t dx;          // the dimension of the gradient taken: d
  int64_t source;      // RowSource
  int64_t lo;          // the batch is order[lo : lo+batch]
  int64_t batch;       // B
  const int32_t* order;
  const void* pairY;            // P×d targets (T)
  const double* pairTime;       // P target times (time-potential)
  const int32_t* pairTarget;    // P: index of the target population
  const int64_t* rowStart;      // epoch prefix sums of the interaction rows per pair (P+1)
  int64_t samples;              // S; 0 for the exact mean
  const void* pop;              // all populations, rows of d (T)
  const int64_t* popStart;      // population k is rows popStart[k] .. popStart[k+1]
  uint64_t seed;
  const StepRecord* at;  // the step
  void* out;             // forward: rows×dx input gradients (T)
  const void* up;        // backward: upstream, B×d (potential) or B×2×d (interaction) (T)
  double* partial;       // backward: gridDim.x rows of the parameter count
  int64_t minRows;       // interaction rows of a pair, at least and at most over all
  int64_t maxRows;       // pairs: they bound the owner search (owner_pair)
};

namespace {

// The dynamic shared memory of an MLP block, carved from one buffer (the Go
// side's mlpSharedBytes must agree).
template <typename T>
struct MlpShared {
  T *w1, *b1, *b2, *w3, *w2;  // parameters: W1 in×H, W2 H×LD
  T *p, *g;                    // TILE×in inputs, TILE×dx upstream or output
  T *h1, *s1, *s2, *a1, *u1, *e2;  // TILE×LD activations and backward buffers
  int32_t* row_pair;           // per tile row: batch pair, or −1 past the last row
  int32_t* row_set;            // subsample set
  int64_t* row_point;          // interaction rows: the row of the target point in pop
  double* row_scale;           // upstream scale 1/L of interaction rows

  __device__ MlpShared(unsigned char* base, int64_t in, int64_t dx) {
    T* t = reinterpret_cast<T*>(base);
    w1 = t;
    t += in * H;
    b1 = t;
    t += H;
    b2 = t;
    t += H;
    w3 = t;
    t += H;
    w2 = t;
    t += H * LD;
    p = t;
    t += TILE * in;
    g = t;
    t += TILE * dx;
    // The tiles start 8-byte aligned (each is a multiple of 8 bytes, and
    // so is the row table after them), so that mlp_backward's last sums
    // can use h1 as doubles. Aligned by pointer arithmetic from base, not
    // through an integer, so that nvcc still sees shared memory and emits
    // LDS/STS rather than generic loads and stores.
    t += (t - reinterpret_cast<T*>(base)) * sizeof(T) % 8 / sizeof(T);
    static_assert(TILE * LD * sizeof(float) % 8 == 0, "tiles of whole 8-byte words");
    T** tiles[6] = {&h1, &s1, &s2, &a1, &u1, &e2};
    for (int i = 0; i < 6; i++) {
      *tiles[i] = t;
      t += TILE * LD;
    }
    row_point = reinterpret_cast<int64_t*>(t);
    row_scale = reinterpret_cast<double*>(row_point + TILE);
    row_pair = reinterpret_cast<int32_t*>(row_scale + TILE);
    row_set = row_pair + TILE;
  }
};

// Loads the network's parameters into shared memory.
template <typename T>
__device__ void load_params(const MlpShared<T>& s, const T* prm, int64_t in) {
  MlpOffsets o = mlp_offsets(in);
  for (int64_t e = threadIdx.x; e < in * H; e += THREADS) s.w1[e] = prm[o.w1 + e];
  for (int e = threadIdx.x; e < H; e += THREADS) {
    s.b1[e] = prm[o.b1 + e];
    s.b2[e] = prm[o.b2 + e];
    s.w3[e] = prm[o.w3 + e];
  }
  for (int e = threadIdx.x; e < H * H; e += THREADS) s.w2[(e / H) * LD + e % H] = prm[o.w2 + e];
}

// The rows of the step: the batch's pairs, or their interaction rows (which
// depend on the epoch's order, so the device reads them).
__device__ int64_t mlp_rows(const MlpArgs& a) {
  return a.source == SOURCE_POTENTIAL ? a.batch : a.rowStart[a.lo + a.batch] - a.rowStart[a.lo];
}

// The batch pair that owns interaction row r (relative to the step): the
// last i with rowStart[lo+i] − rowStart[lo] ≤ r. Every pair has between
// minRows and maxRows rows, so i·minRows ≤ r < (i+1)·maxRows bounds the
// search to [r / maxRows, r / minRows]: with subsamples (2S rows each) or
// target snapshots of one size it reads nothing, else a few steps.
__device__ int64_t owner_pair(const MlpArgs& a, int64_t r) {
  int64_t base = a.rowStart[a.lo], lo = r / a.maxRows, hi = r / a.minRows;
  if (hi > a.batch - 1) hi = a.batch - 1;
  while (lo < hi) {
    int64_t m = (lo + hi + 1) / 2;
    if (a.rowStart[a.lo + m] - base <= r)
      lo = m;
    else
      hi = m - 1;
  }
  return lo;
}

// A row of the tile's row table, which a thread draws up to TABLE_TILES
// tiles ahead and keeps in registers until its tile.
struct RowEntry {
  int32_t pair;   // batch pair, or −1 past the step's last row
  int32_t set;    // subsample set
  int64_t point;  // interaction rows: the row of the target point in pop
  int64_t count;  // interaction rows: the rows L of its set (its upstream is scaled by 1/L)
};

// The entry of step row `row`.
__device__ RowEntry row_entry(const MlpArgs& a, int64_t rows, int64_t row) {
  RowEntry e = {-1, 0, 0, 1};
  if (row >= rows) return e;
  if (a.source == SOURCE_POTENTIAL) {
    e.pair = (int32_t)row;
    return e;
  }
  int64_t i = owner_pair(a, row);
  int64_t j = row - (a.rowStart[a.lo + i] - a.rowStart[a.lo]);
  int32_t pair = a.order[a.lo + i];
  int32_t k = a.pairTarget[pair];
  int64_t n = a.popStart[k + 1] - a.popStart[k];
  int64_t q = j;
  e.count = n;
  if (a.samples > 0) {
    e.set = (int32_t)(j / a.samples);
    e.count = a.samples;
    q = jk_sample_index(a.seed, a.at->step, (uint32_t)pair, (uint32_t)j, (uint32_t)n);
  }
  e.pair = (int32_t)i;
  e.point = a.popStart[k] + q;
  return e;
}

// Fills the tile's row table, inputs p and (backward) upstream g for rows
// tile·TILE … . The tile is the block's slot-th of TABLE_TILES in
// grid-stride order: at slot 0 every thread draws the entry `ahead` of
// row r of the block's tile tile + t·gridDim.x, (t, r) = (tid / TILE, tid %
// TILE), so that the whole block reads the pairs and draws the samples of
// TABLE_TILES tiles at once; at slot t its threads write theirs into the
// table. Rows past the step's last are zero, which makes every term of
// their backward pass zero.
template <typename T>
__device__ void load_tile(const MlpArgs& a, const MlpShared<T>& s, int64_t rows, int64_t tile, int slot,
                          RowEntry& ahead, bool backward) {
  const T* y = static_cast<const T*>(a.pairY);
  const T* pop = static_cast<const T*>(a.pop);
  const T* up = static_cast<const T*>(a.up);
  int64_t d = a.dx;
  int t = threadIdx.x / TILE, r = threadIdx.x % TILE;
  if (slot == 0) ahead = row_entry(a, rows, (tile + t * (int64_t)gridDim.x) * TILE + r);
  if (t == slot) {
    s.row_pair[r] = ahead.pair;
    s.row_set[r] = ahead.set;
    s.row_point[r] = ahead.point;
    s.row_scale[r] = 1.0 / (double)ahead.count;
  }
  __syncthreads();
  for (int64_t e = threadIdx.x; e < TILE * a.in; e += THREADS) {
    int r = (int)(e / a.in);
    int64_t c = e % a.in;
    int32_t i = s.row_pair[r];
    T v = T(0);
    if (i >= 0) {
      int32_t pair = a.order[a.lo + i];
      if (c == d)
        v = (T)a.pairTime[pair];  // time-potential's last input
      else if (a.source == SOURCE_POTENTIAL)
        v = y[pair * d + c];
      else
        v = y[pair * d + c] - pop[s.row_point[r] * d + c];
    }
    s.p[e] = v;
  }
  if (backward) {
    for (int64_t e = threadIdx.x; e < TILE * d; e += THREADS) {
      int r = (int)(e / d);
      int64_t c = e % d;
      int32_t i = s.row_pair[r];
      T v = T(0);
      if (i >= 0) {
        if (a.source == SOURCE_POTENTIAL)
          v = up[i * d + c];
        else
          v = (T)((double)up[(i * 2 + s.row_set[r]) * d + c] * s.row_scale[r]);
      }
      s.g[e] = v;
    }
  }
  __syncthreads();
}

// The rows×H products of the tile,
//
//   C[r][j] = bias[j] + Σ_k A[r][k]·colScale[k]·B(k, j),  k < K,
//
// with A a TILE×K tile of row stride lda, B(k, j) = b[k·ldb + j], or
// b[j·ldb + k] when transB, each result handed to epi(r, j, value). Thread
// (half, ti, tj) = (tid / HALF, tid % HALF / 16, tid % 16) holds a 4×4
// register tile, rows ti + 8x and columns tj + 16z, and finishes rows x / 2
// == half. For K ≥ SPLIT_K each half takes half of k (sliced K: the low half
// for half 0; 8 shared-memory loads per 16 FMAs, where a 2×4 tile over all
// of k took 6 per 8), and the halves swap the partial sums of the rows the
// other finishes through scratch, a TILE×LD buffer no thread reads
// meanwhile (the epilogue may write it), as bias + (low + high). A shorter
// K (the d inputs or d outputs of W1) is not worth the swap's barrier: both
// halves take all of it.
constexpr int64_t SPLIT_K = 16;

template <typename T, typename Epilogue>
__device__ __forceinline__ void tile_product(const T* A, int64_t lda, const T* colScale, const T* b, int64_t ldb,
                                             bool transB, int64_t K, const T* bias, T* scratch, Epilogue epi) {
  int half = threadIdx.x / HALF, ti = threadIdx.x % HALF / 16, tj = threadIdx.x % 16;
  bool split = K >= SPLIT_K;  // the same for every thread of the block
  int64_t k0 = split && half == 1 ? K / 2 : 0, k1 = split && half == 0 ? K / 2 : K;
  T acc[4][4] = {};
  for (int64_t k = k0; k < k1; k++) {
    T a[4];
    for (int x = 0; x < 4; x++) a[x] = A[(ti + 8 * x) * lda + k];
    if (colScale) {
      T cs = colScale[k];
      for (int x = 0; x < 4; x++) a[x] *= cs;
    }
    for (int z = 0; z < 4; z++) {
      int j = tj + 16 * z;
      T bv = transB ? b[j * ldb + k] : b[k * ldb + j];
      for (int x = 0; x < 4; x++) acc[x][z] += a[x] * bv;
    }
  }
  // Unrolled, so that acc stays in registers.
  if (split) {
#pragma unroll
    for (int x = 0; x < 4; x++)
      if (x / 2 != half)
        for (int z = 0; z < 4; z++) scratch[(ti + 8 * x) * LD + tj + 16 * z] = acc[x][z];
    __syncthreads();
  }
#pragma unroll
  for (int x = 0; x < 4; x++)
    if (x / 2 == half)
      for (int z = 0; z < 4; z++) {
        int r = ti + 8 * x, j = tj + 16 * z;
        T sum = acc[x][z];
        if (split) {
          T other = scratch[r * LD + j];
          sum = half == 0 ? sum + other : other + sum;
        }
        epi(r, j, (bias ? bias[j] : T(0)) + sum);
      }
}

// Sums of terms terms for each of items items, finish(item, sum) once per
// item, by the same thread for the same item in every call. When items
// are fewer than the block's threads, each item's terms are cut into
// slices (2, 4 or 8, leaving no thread idle) summed by their own threads
// into scratch (items·slices ≤ THREADS values no thread reads meanwhile),
// and the item's thread adds the slices in order.
template <typename T, typename Term, typename Finish>
__device__ __forceinline__ void sliced_sums(int64_t items, int terms, T* scratch, Term term, Finish finish) {
  int slices = 1;
  while (slices < 8 && items * slices * 2 <= THREADS && terms % (slices * 2) == 0) slices *= 2;
  int per = terms / slices;
  for (int64_t it = threadIdx.x; it < items * slices; it += THREADS) {
    int64_t item = it % items;
    int q0 = (int)(it / items) * per;
    T sum = T(0);
    for (int q = q0; q < q0 + per; q++) sum += term(item, q);
    if (slices == 1)
      finish(item, sum);
    else
      scratch[it] = sum;
  }
  if (slices == 1) return;  // the same for every thread of the block
  __syncthreads();
  for (int64_t item = threadIdx.x; item < items; item += THREADS) {
    T sum = scratch[item];
    for (int q = 1; q < slices; q++) sum += scratch[q * items + item];
    finish(item, sum);
  }
}

// The forward pass of the tile and the backward pass of V to its input, as
// forward ops (networks.MLP.forward):
//
//   h1 = softplus(z1), s1 = σ(z1), z1 = p W1 + b1
//   s2 = σ(z2),                    z2 = h1 W2 + b2
//   a1 = (s2 ⊙ W3ᵀ) W2ᵀ            (= ∂V/∂h1; g1 = a1 ⊙ s1 = ∂V/∂z1)
template <typename T>
__device__ void tile_forward(const MlpShared<T>& s, int64_t in) {
  tile_product<T>(s.p, in, nullptr, s.w1, H, false, in, s.b1, s.h1, [&](int r, int j, T z) {
    T sp, sg;
    softplus_sigmoid(z, &sp, &sg);
    s.h1[r * LD + j] = sp;
    s.s1[r * LD + j] = sg;
  });
  __syncthreads();
  tile_product<T>(s.h1, LD, nullptr, s.w2, LD, false, H, s.b2, s.s2,
                  [&](int r, int j, T z) { s.s2[r * LD + j] = sigmoid(z); });
  __syncthreads();
  tile_product<T>(s.s2, LD, s.w3, s.w2, LD, true, H, nullptr, s.a1, [&](int r, int j, T v) { s.a1[r * LD + j] = v; });
  __syncthreads();
}

// Per-block sums of the parameter gradient, held by each thread across the
// tiles: W2 (thread (ti, tj) = (tid / 16, tid % 16) owns rows ti + 16x and
// columns tj + 16z) and its slice of the column sums W̄3, b̄2, b̄1 (thread
// (j, slice) = (tid % H, tid / H)), added into the block's partial row at
// its end. W1 is added to the partial row tile by tile, each element
// always by the same thread.
struct Acc {
  double w2[4][4];
  double w3, b2, b1;
};
static_assert(3 * THREADS * sizeof(double) <= TILE * LD * sizeof(float), "mlp_backward's column slices fit h1");

// The backward pass of one tile (networks.MLP.backward), for Φ = Σ_r ⟨G_r,
// ∇V(p_r)[:dx]⟩ with G the tile's upstream, adding ∂Φ/∂θ to the block's
// sums:
//
//   u1 = G W1[:dx]                      W̄1[:dx] += Gᵀ g1
//   t1 = u1 ⊙ a1 ⊙ s1 ⊙ (1 − s1)        c1 = u1 ⊙ s1
//   u2 = c1 W2
//   W̄3 += Σ_r u2 ⊙ s2,   e2 = u2 ⊙ W3ᵀ ⊙ s2 ⊙ (1 − s2),   b̄2 += Σ_r e2
//   W̄2 += c1ᵀ g2 + h1ᵀ e2               (g2 = s2 ⊙ W3ᵀ)
//   e1 = (e2 W2ᵀ) ⊙ s1 + t1,   b̄1 += Σ_r e1,   W̄1 += pᵀ e1
template <typename T>
__device__ void tile_backward(const MlpShared<T>& s, int64_t in, int64_t dx, double* part, Acc& acc) {
  MlpOffsets o = mlp_offsets(in);
  // u1 = G W1[:dx] (into u1) and W̄1[:dx] += Gᵀ g1 (its slices in e2).
  tile_product<T>(s.g, dx, nullptr, s.w1, H, false, dx, nullptr, s.u1,
                  [&](int r, int j, T v) { s.u1[r * LD + j] = v; });
  sliced_sums<T>(
      dx * H, TILE, s.e2,
      [&](int64_t e, int r) {
        int j = (int)(e % H);
        return s.g[r * dx + e / H] * s.a1[r * LD + j] * s.s1[r * LD + j];
      },
      [&](int64_t e, T sum) { part[o.w1 + e] += (double)sum; });
  __syncthreads();
  // t1 over a1, c1 over u1.
  for (int e = threadIdx.x; e < TILE * H; e += THREADS) {
    int i = (e / H) * LD + e % H;
    T sg = s.s1[i], u = s.u1[i];
    s.a1[i] = u * s.a1[i] * sg * (T(1) - sg);
    s.u1[i] = u * sg;
  }
  __syncthreads();
  // u2 = c1 W2 (into e2).
  tile_product<T>(s.u1, LD, nullptr, s.w2, LD, false, H, nullptr, s.e2,
                  [&](int r, int j, T v) { s.e2[r * LD + j] = v; });
  __syncthreads();
  // W̄3, e2, b̄2 by column, in slices of rows; s2 becomes g2.
  {
    int j = threadIdx.x % H, r0 = threadIdx.x / H * (TILE / ROW_SLICES);
    T w3 = s.w3[j], dw3 = T(0), db2 = T(0);
    for (int r = r0; r < r0 + TILE / ROW_SLICES; r++) {
      int i = r * LD + j;
      T u2 = s.e2[i], sg = s.s2[i];
      dw3 += u2 * sg;
      T e2 = u2 * w3 * sg * (T(1) - sg);
      s.e2[i] = e2;
      db2 += e2;
      s.s2[i] = sg * w3;
    }
    acc.w3 += (double)dw3;
    acc.b2 += (double)db2;
  }
  __syncthreads();
  // W̄2 += c1ᵀ g2 + h1ᵀ e2.
  {
    int ti = threadIdx.x / 16, tj = threadIdx.x % 16;
    T sum[4][4] = {};
    for (int r = 0; r < TILE; r++) {
      T c1[4], h1[4], g2[4], e2[4];
      for (int q = 0; q < 4; q++) {
        c1[q] = s.u1[r * LD + ti + 16 * q];
        h1[q] = s.h1[r * LD + ti + 16 * q];
        g2[q] = s.s2[r * LD + tj + 16 * q];
        e2[q] = s.e2[r * LD + tj + 16 * q];
      }
      for (int x = 0; x < 4; x++)
        for (int z = 0; z < 4; z++) sum[x][z] += c1[x] * g2[z] + h1[x] * e2[z];
    }
    for (int x = 0; x < 4; x++)
      for (int z = 0; z < 4; z++) acc.w2[x][z] += (double)sum[x][z];
  }
  __syncthreads();
  // h̄1 = e2 W2ᵀ (into u1), then e1 = h̄1 ⊙ s1 + t1 and b̄1 by column.
  tile_product<T>(s.e2, LD, nullptr, s.w2, LD, true, H, nullptr, s.u1,
                  [&](int r, int j, T v) { s.u1[r * LD + j] = v; });
  __syncthreads();
  {
    int j = threadIdx.x % H, r0 = threadIdx.x / H * (TILE / ROW_SLICES);
    T db1 = T(0);
    for (int r = r0; r < r0 + TILE / ROW_SLICES; r++) {
      int i = r * LD + j;
      T e1 = s.u1[i] * s.s1[i] + s.a1[i];
      s.u1[i] = e1;
      db1 += e1;
    }
    acc.b1 += (double)db1;
  }
  __syncthreads();
  // W̄1 += pᵀ e1 (its slices in s2).
  sliced_sums<T>(
      in * H, TILE, s.s2, [&](int64_t e, int r) { return s.p[r * in + e / H] * s.u1[r * LD + e % H]; },
      [&](int64_t e, T sum) { part[o.w1 + e] += (double)sum; });
  // No barrier: the next tile's load_tile writes only the row table (which
  // no thread reads here) before its own barrier, and each element of part
  // is always added to by the same thread.
}

// ∇V of every row (forward only): out[row][c] = Σ_j g1[r][j] W1[c][j], c < dx.
template <typename T>
__device__ void mlp_forward(const MlpArgs& a) {
  JK_SHARED_MEMORY(smem);
  MlpShared<T> s(smem, a.in, a.dx);
  load_params(s, static_cast<const T*>(a.params), a.in);
  T* out = static_cast<T*>(a.out);
  int64_t rows = mlp_rows(a), tiles = (rows + TILE - 1) / TILE, dx = a.dx;
  RowEntry ahead;
  for (int64_t tile = blockIdx.x, k = 0; tile < tiles; tile += gridDim.x, k++) {
    load_tile(a, s, rows, tile, (int)(k % TABLE_TILES), ahead, false);
    tile_forward(s, a.in);
    // Item e = r·dx + c, its slices in h1 (read by no one after z2).
    sliced_sums<T>(
        TILE * dx, H, s.h1,
        [&](int64_t e, int j) {
          int64_t r = e / dx;
          return s.a1[r * LD + j] * s.s1[r * LD + j] * s.w1[(e % dx) * H + j];
        },
        [&](int64_t e, T sum) {
          if (tile * TILE + e / dx < rows) out[tile * TILE * dx + e] = sum;
        });
    // No barrier: the next tile's load_tile writes only the row table (not
    // read here) before its own barrier.
  }
}

// The parameter gradient of Σ_rows ⟨up_row, ∇V(p_row)⟩, one partial sum per
// block in partial[blockIdx.x].
template <typename T>
__device__ void mlp_backward(const MlpArgs& a) {
  JK_SHARED_MEMORY(smem);
  MlpShared<T> s(smem, a.in, a.dx);
  load_params(s, static_cast<const T*>(a.params), a.in);
  MlpOffsets o = mlp_offsets(a.in);
  double* part = a.partial + blockIdx.x * o.count;
  for (int64_t e = threadIdx.x; e < o.count; e += THREADS) part[e] = 0;
  Acc acc = {};
  // No barrier: the first load_tile's barrier comes before any thread adds
  // to part. A block with no tile (a captured epoch's grid is sized for its
  // largest step) writes zeros only, so the order of its writes is moot.
  int64_t rows = mlp_rows(a), tiles = (rows + TILE - 1) / TILE;
  RowEntry ahead;
  for (int64_t tile = blockIdx.x, k = 0; tile < tiles; tile += gridDim.x, k++) {
    load_tile(a, s, rows, tile, (int)(k % TABLE_TILES), ahead, true);
    tile_forward(s, a.in);
    tile_backward(s, a.in, a.dx, part, acc);
  }
  int ti = threadIdx.x / 16, tj = threadIdx.x % 16;
  for (int x = 0; x < 4; x++)
    for (int z = 0; z < 4; z++) part[o.w2 + (ti + 16 * x) * H + tj + 16 * z] = acc.w2[x][z];
  // The column sums' slices, added in slice order through h1 as doubles
  // (no thread reads h1 after the last tile's W̄2).
  double* col = reinterpret_cast<double*>(s.h1);
  col[threadIdx.x] = acc.w3;
  col[THREADS + threadIdx.x] = acc.b2;
  col[2 * THREADS + threadIdx.x] = acc.b1;
  __syncthreads();
  if (threadIdx.x < H) {
    int j = threadIdx.x;
    double w3 = 0, b2 = 0, b1 = 0;
    for (int q = 0; q < ROW_SLICES; q++) {
      w3 += col[q * H + j];
      b2 += col[THREADS + q * H + j];
      b1 += col[2 * THREADS + q * H + j];
    }
    part[o.w3 + j] = w3;
    part[o.b2 + j] = b2;
    part[o.b1 + j] = b1;
  }
}

}  // namespace

// Resident blocks a multiprocessor each MLP kernel is built for (engine/cuda
// sizes its grids from the same figures, TestKernelResources holds ptxas's
// registers to them): a float64 block's 137 KB of shared memory leave room
// for one on any GPU, so its kernels take all the registers they want (up
// to 255 a thread); float32 blocks (69 KB) fit 3 on an H100 and 2 on an
// A100 by shared memory: the forward kernel is held to 3 (≤ 80 registers,
// spilling nothing), the backward one to 2 (≤ 128).
JK_KERNEL_OCCUPANCY(mlp_forward_f32, MlpArgs, THREADS, 3) { mlp_forward<float>(args); }
JK_KERNEL_OCCUPANCY(mlp_forward_f64, MlpArgs, THREADS, 1) { mlp_forward<double>(args); }
JK_KERNEL_OCCUPANCY(mlp_backward_f32, MlpArgs, THREADS, 2) { mlp_backward<float>(args); }
JK_KERNEL_OCCUPANCY(mlp_backward_f64, MlpArgs, THREADS, 1) { mlp_backward<double>(args); }

// The argument of pair_means: a mean (pair i, set, column c) is item
// (i·sets + set)·d + c, summed by `lanes` threads (a power of two: at least
// every pair's rows, or THREADS), THREADS / lanes items a block.
struct MeansArgs {
  const void* rowGrad;      // rows×d (T)
  double* meanU;            // B×2×d
  const int64_t* rowStart;  // epoch prefix
  int64_t lo;
  int64_t d;
  int64_t samples;  // S; 0 for the exact mean (one set)
  int64_t batch;    // B
  int64_t sets;     // 2 with subsamples, else 1
  int64_t lanes;
};

namespace {

// Sums v over the N threads of the block in a fixed tree order; every
// thread gets the sum. buf holds N doubles.
template <int N>
__device__ double tree_sum(double v, double* buf) {
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int w = N / 2; w > 0; w /= 2) {
    if ((int)threadIdx.x < w) buf[threadIdx.x] += buf[threadIdx.x + w];
    __syncthreads();
  }
  double sum = buf[0];
  __syncthreads();
  return sum;
}

// m_a(i) = (1/L) Σ rows of (i, a) of ∇U, column by column. Lane l of an item
// sums its rows l, l + lanes, …, and the lanes are added in a tree within
// the item's segment of buf: with lanes ≥ L each lane holds at most one
// row, and this gives the bits of a tree over all THREADS (whose lanes past
// L only add zeros), so the means do not depend on lanes.
template <typename T>
__device__ void pair_means(const MeansArgs& a) {
  JK_SHARED_MEMORY(smem);
  double* buf = reinterpret_cast<double*>(smem);
  const T* g = static_cast<const T*>(a.rowGrad);
  int lanes = (int)a.lanes, lane = threadIdx.x % lanes;
  int64_t item = (int64_t)blockIdx.x * (THREADS / lanes) + threadIdx.x / lanes;
  bool valid = item < a.batch * a.sets * a.d;
  int64_t c = item % a.d, set = item / a.d % a.sets, i = item / a.d / a.sets, count = 1;
  double v = 0;
  if (valid) {
    int64_t start = a.rowStart[a.lo + i] - a.rowStart[a.lo];
    count = a.rowStart[a.lo + i + 1] - a.rowStart[a.lo + i];
    if (a.samples > 0) {
      start += set * a.samples;
      count = a.samples;
    }
    for (int64_t r = lane; r < count; r += lanes) v += (double)g[(start + r) * a.d + c];
  }
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int w = lanes / 2; w > 0; w /= 2) {
    if (lane < w) buf[threadIdx.x] += buf[threadIdx.x + w];
    __syncthreads();
  }
  if (valid && lane == 0) a.meanU[(i * 2 + set) * a.d + c] = buf[threadIdx.x] / (double)count;
}

}  // namespace

JK_KERNEL(pair_means_f32, MeansArgs, THREADS) { pair_means<float>(args); }
JK_KERNEL(pair_means_f64, MeansArgs, THREADS) { pair_means<double>(args); }

// What the residual kernel reads and writes.
struct ResidualArgs {
  int64_t lo, batch, d;
  int64_t sets;         // 1: one exact set or no interaction; 2: two subsample sets
  int64_t interaction;  // the variant has U
  int64_t internal;     // the variant has β
  int64_t betaIndex;    // β in params
  const StepRecord* at; // the step (Σw)
  const int32_t* order;
  const void* pairX;  // P×d (T)
  const void* pairY;
  const void* pairScore;
  const double* pairW;
  const double* pairTau;
  const void* params;   // for β (T)
  const void* gradV;    // B×d (T)
  const double* meanU;  // B×2×d
  void* upV;            // B×d (T)
  void* upU;            // B×2×d (T)
  double* lossPartial;  // per block: value, ‖τ∇V‖, ‖τβs‖, ‖τm‖, ‖r‖, ∂L/∂β
};

namespace {

constexpr int LOSS_TERMS = 6;

// Per pair i (networks fusedLoss.residuals), with w = w_i / Σw:
//
//   r_a = τ[∇V(y) + β s + m_a] + (y − x)
//   two sets: L += w⟨r₀, r₁⟩, ρ₀ = w r₁, ρ₁ = w r₀;  one set: L += w‖r₀‖², ρ₀ = 2w r₀
//   upV = τ(ρ₀ + ρ₁), upU_a = τρ_a, ∂L/∂β += τ⟨s, ρ₀ + ρ₁⟩
//
// and the block's sums of the loss and of the norms of the terms.
template <typename T>
__device__ void residuals(const ResidualArgs& a) {
  JK_SHARED_MEMORY(smem);
  double* buf = reinterpret_cast<double*>(smem);
  const T* x = static_cast<const T*>(a.pairX);
  const T* y = static_cast<const T*>(a.pairY);
  const T* score = static_cast<const T*>(a.pairScore);
  const T* gradV = static_cast<const T*>(a.gradV);
  T* upV = static_cast<T*>(a.upV);
  T* upU = static_cast<T*>(a.upU);
  double beta = a.internal ? (double)static_cast<const T*>(a.params)[a.betaIndex] : 0.0;
  double terms[LOSS_TERMS] = {};
  int64_t i = (int64_t)blockIdx.x * THREADS + threadIdx.x;
  if (i < a.batch) {
    int32_t pair = a.order[a.lo + i];
    double tau = a.pairTau[pair], w = a.pairW[pair] / a.at->wsum;
    double potSq = 0, intSq = 0, value = 0, dBeta = 0, uSq[2] = {0, 0}, rSq[2] = {0, 0};
    for (int64_t c = 0; c < a.d; c++) {
      int64_t j = i * a.d + c, pj = (int64_t)pair * a.d + c;
      double pot = tau * (double)gradV[j];
      double internal = 0, sc = 0;
      if (a.internal) {
        sc = (double)score[pj];
        internal = tau * beta * sc;
      }
      double base = pot + internal + (double)y[pj] - (double)x[pj];
      double r[2] = {0, 0}, rho[2] = {0, 0};
      for (int s = 0; s < a.sets; s++) {
        double u = a.interaction ? tau * a.meanU[(i * 2 + s) * a.d + c] : 0.0;
        r[s] = base + u;
        uSq[s] += u * u;
        rSq[s] += r[s] * r[s];
      }
      if (a.sets == 2) {
        value += r[0] * r[1];
        rho[0] = w * r[1];
        rho[1] = w * r[0];
      } else {
        value += r[0] * r[0];
        rho[0] = 2 * w * r[0];
      }
      upV[j] = (T)(tau * (rho[0] + rho[1]));
      dBeta += tau * sc * (rho[0] + rho[1]);
      for (int s = 0; s < a.sets; s++) upU[(i * 2 + s) * a.d + c] = (T)(tau * rho[s]);
      potSq += pot * pot;
      intSq += internal * internal;
    }
    terms[0] = w * value;
    terms[1] = jk_sqrt(potSq);
    terms[2] = jk_sqrt(intSq);
    for (int s = 0; s < a.sets; s++) {
      terms[3] += jk_sqrt(uSq[s]) / (double)a.sets;
      terms[4] += jk_sqrt(rSq[s]) / (double)a.sets;
    }
    terms[5] = dBeta;
  }
  for (int q = 0; q < LOSS_TERMS; q++) {
    double sum = tree_sum<THREADS>(terms[q], buf);
    if (threadIdx.x == 0) a.lossPartial[blockIdx.x * LOSS_TERMS + q] = sum;
  }
}

}  // namespace

JK_KERNEL(residuals_f32, ResidualArgs, THREADS) { residuals<float>(args); }
JK_KERNEL(residuals_f64, ResidualArgs, THREADS) { residuals<double>(args); }

// grad[offset_n + j] = Σ_blocks partial_n[block][j] for the two networks'
// partials (count 0 for an absent one).
struct ReduceArgs {
  const double* partialV;
  int64_t blocksV, countV, offsetV;
  const double* partialU;
  int64_t blocksU, countU, offsetU;
  double* grad;
};

JK_KERNEL(reduce_partials, ReduceArgs, THREADS) {
  int64_t j = (int64_t)blockIdx.x * THREADS + threadIdx.x;
  const double* part = args.partialV;
  int64_t blocks = args.blocksV, count = args.countV, offset = args.offsetV;
  if (j >= args.countV) {
    j -= args.countV;
    part = args.partialU;
    blocks = args.blocksU;
    count = args.countU;
    offset = args.offsetU;
  }
  if (j >= count) return;
  double sum = 0;
  for (int64_t b = 0; b < blocks; b++) sum += part[b * count + j];
  args.grad[offset + j] = sum;
}

// Epoch accumulators of finish_step, read back once per epoch.
enum Accum {
  ACC_LOSS = 0,         // Σ_steps Σw · L
  ACC_WEIGHT = 1,       // Σ_steps Σw
  ACC_POTENTIAL = 2,    // Σ over pairs of ‖τ∇V‖
  ACC_INTERNAL = 3,     // ‖τβs‖
  ACC_INTERACTION = 4,  // ‖τm‖
  ACC_RESIDUAL = 5,     // ‖r‖
  ACC_PAIRS = 6,        // pairs stepped
  ACC_BAD_STEP = 7,     // 1 + the first step whose loss was not finite, 0 if none
  ACC_LAST = 8,         // the last step's loss and the means of its terms over the pairs (5 values)
  ACC_COUNT = 13,
};

// The argument of finish_step: one block of FINISH_THREADS.
struct FinishArgs {
  const double* lossPartial;
  int64_t lossBlocks;
  int64_t batch;
  const StepRecord* at;  // the step (number, Σw, c1, c2)
  int64_t betaIndex;     // −1 without β
  double* grad;       // the flat gradient (double)
  double* accum;      // Accum
  int64_t update;     // 0: stop after the gradient (a probe: no update, no epoch sums), 1: Adam
  void* params;       // T
  void* m;            // T
  void* v;            // T
  double lr, beta1, beta2, eps, clip;
  int64_t groups;
  int64_t groupLo[3];
  int64_t groupHi[3];
  int64_t groupFrozen[3];
};

namespace {

// The step's loss from the residual blocks, kept in ACC_LAST; a loss that is
// not finite records the step and stops every later update (the trainer
// reports it at the end of the epoch). Then ∂L/∂β, per-network clipping
// g ← g·min(1, clip/‖g‖) and Adam:
//
//   m ← β1 m + (1−β1) g,  v ← β2 v + (1−β2) g²,  θ ← θ − lr (m/c1) / (√(v/c2) + ε).
template <typename T>
__device__ void finish_step(const FinishArgs& a) {
  JK_SHARED_MEMORY(smem);
  double* buf = reinterpret_cast<double*>(smem);
  double* acc = a.accum;
  double terms[LOSS_TERMS];
  for (int q = 0; q < LOSS_TERMS; q++) {
    double v = 0;
    for (int64_t b = threadIdx.x; b < a.lossBlocks; b += FINISH_THREADS) v += a.lossPartial[b * LOSS_TERMS + q];
    terms[q] = tree_sum<FINISH_THREADS>(v, buf);
  }
  if (acc[ACC_BAD_STEP] != 0) return;  // an earlier step failed: the state stays as it was
  if (threadIdx.x == 0) {
    acc[ACC_LAST] = terms[0];
    for (int q = 1; q < 5; q++) acc[ACC_LAST + q] = terms[q] / (double)a.batch;
  }
  if (!jk_isfinite(terms[0])) {
    if (threadIdx.x == 0 && a.update) acc[ACC_BAD_STEP] = (double)(a.at->step + 1);
    return;
  }
  if (threadIdx.x == 0) {
    if (a.update) {
      acc[ACC_LOSS] += a.at->wsum * terms[0];
      acc[ACC_WEIGHT] += a.at->wsum;
      for (int q = 1; q < 5; q++) acc[ACC_POTENTIAL + q - 1] += terms[q];
      acc[ACC_PAIRS] += (double)a.batch;
    }
    if (a.betaIndex >= 0) a.grad[a.betaIndex] = terms[5];  // for Probe's read
  }
  // No barrier: below, every thread takes β's gradient from its own
  // terms[5], not from grad, so none reads what thread 0 wrote.
  if (!a.update) return;
  T* prm = static_cast<T*>(a.params);
  T* m = static_cast<T*>(a.m);
  T* v = static_cast<T*>(a.v);
  double c1 = a.at->c1, c2 = a.at->c2;
  for (int64_t gi = 0; gi < a.groups; gi++) {
    if (a.groupFrozen[gi]) continue;
    int64_t lo = a.groupLo[gi], hi = a.groupHi[gi];
    double sq = 0;
    for (int64_t j = lo + threadIdx.x; j < hi; j += FINISH_THREADS) {
      double g = j == a.betaIndex ? terms[5] : a.grad[j];
      sq += g * g;
    }
    double norm = jk_sqrt(tree_sum<FINISH_THREADS>(sq, buf));
    bool clip = a.clip > 0 && norm > a.clip;
    for (int64_t j = lo + threadIdx.x; j < hi; j += FINISH_THREADS) {
      double g = j == a.betaIndex ? terms[5] : a.grad[j];
      if (clip) g *= a.clip / norm;
      double mj = a.beta1 * (double)m[j] + (1 - a.beta1) * g;
      double vj = a.beta2 * (double)v[j] + (1 - a.beta2) * g * g;
      m[j] = (T)mj;
      v[j] = (T)vj;
      prm[j] = (T)((double)prm[j] - a.lr * (mj / c1) / (jk_sqrt(vj / c2) + a.eps));
    }
  }
}

}  // namespace

JK_KERNEL(finish_step_f32, FinishArgs, FINISH_THREADS) { finish_step<float>(args); }
JK_KERNEL(finish_step_f64, FinishArgs, FINISH_THREADS) { finish_step<double>(args); }
