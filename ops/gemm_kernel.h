/* The GEMM body, written once for both dtypes: ops/gemm_variant.h includes
 * this file twice after defining
 *   T             element type (float, double)
 *   FN(name)      name##_f32 / name##_f64
 *   VEC, VLEN     vector type and its element count
 *   MR            rows of a register tile: 4, 6 or 12 (NR = 2 * VLEN columns)
 *   VZERO() VLOAD(p) VSTORE(p, v) VSET1(x) VFMA(a, b, c) (= a*b + c, fused where the ISA has it)
 *   VLOAD_PART(p, n) VSTORE_PART(p, v, n)  the first n < VLEN lanes (0 in the others when loading)
 *   TRANSPOSE(src, lds, dst, ldd, rows, lanes)  dst[c][r] = src[r][c], c < VLEN, r < lanes (0 for r >= rows)
 * No include guard on purpose.
 *
 * The product C = op(A) op(B) is cut in three levels (docs/gemm.md):
 *   rounds    blocks [rows x depth] of op(A) and [depth x cols] of op(B) whose
 *             packed copies fit a share of the L3 cache (usually the whole
 *             product is one round);
 *   units     a chunk of row tiles (whose packed A stays in the L2 cache)
 *             times a group of column panels: the work a thread claims;
 *   tiles     MR x NR register tiles, run over a depth of kc (the B panel of
 *             kc x NR stays in the L1 cache while the row tiles go by).
 * Threads claim a round's packing jobs, then its units, from one ordered
 * list; they wait on finished work (counters), never on each other arriving.
 * Every C element is one multiply-add chain c = fma(a[k], b[k], c) in k order
 * from 0 (C is stored and reloaded exactly between depth blocks), whatever
 * the cut: results are bit-identical for any thread count, block sizes and
 * orientation. */

#define NR (2 * VLEN)

/* ---- register kernels: c[ROWS, n] (+)= a[kn, ROWS] b[kn, n] ----
 * a is a packed A panel (row k: MR values, the first ROWS used), b a packed B
 * panel (row k: NR values, the first NV * VLEN used, n <= NV * VLEN of them
 * stored). C element (r, j) is at c[r * rs + j * cs]: row-major C (cs == 1)
 * moves through vectors (the last one of a partial tile through masks),
 * column-major C (rs == 1: the N-major product) through a buffer. */
#define KERNEL(NAME, ROWS, NV)                                                                               \
    static void NAME(int64_t kn, const T *restrict a, const T *restrict b, T *restrict c, int64_t rs,         \
                     int64_t cs, int64_t n, bool load_c) {                                                   \
        VEC acc[ROWS][NV];                                                                                   \
        T buffer[ROWS * NV * VLEN] __attribute__((aligned(64)));                                             \
        if (cs != 1) {                                                                                       \
            for (int64_t i = 0; i < ROWS * NV * VLEN; i++) buffer[i] = 0;                                    \
            if (load_c)                                                                                      \
                for (int64_t j = 0; j < n; j++)                                                              \
                    for (int r = 0; r < ROWS; r++) buffer[r * NV * VLEN + j] = c[j * cs + r];                \
        }                                                                                                    \
        _Pragma("GCC unroll 12") for (int r = 0; r < ROWS; r++) {                                            \
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) {                                           \
                T *p = c + r * rs + v * VLEN;                                                                \
                if (cs != 1)                                                                                 \
                    acc[r][v] = VLOAD(buffer + r * NV * VLEN + v * VLEN);                                    \
                else if (!load_c)                                                                            \
                    acc[r][v] = VZERO();                                                                     \
                else                                                                                         \
                    acc[r][v] = n >= (v + 1) * VLEN ? VLOAD(p) : VLOAD_PART(p, n - v * VLEN);                \
            }                                                                                                \
        }                                                                                                    \
        for (int64_t k = 0; k < kn; k++) {                                                                   \
            VEC bv[NV];                                                                                      \
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) bv[v] = VLOAD(b + v * VLEN);                 \
            _Pragma("GCC unroll 12") for (int r = 0; r < ROWS; r++) {                                        \
                VEC ar = VSET1(a[r]);                                                                        \
                _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) acc[r][v] = VFMA(ar, bv[v], acc[r][v]); \
            }                                                                                                \
            a += MR;                                                                                         \
            b += NR;                                                                                         \
        }                                                                                                    \
        _Pragma("GCC unroll 12") for (int r = 0; r < ROWS; r++) {                                            \
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) {                                           \
                T *p = c + r * rs + v * VLEN;                                                                \
                if (cs != 1)                                                                                 \
                    VSTORE(buffer + r * NV * VLEN + v * VLEN, acc[r][v]);                                    \
                else if (n >= (v + 1) * VLEN)                                                                \
                    VSTORE(p, acc[r][v]);                                                                    \
                else                                                                                         \
                    VSTORE_PART(p, acc[r][v], n - v * VLEN);                                                 \
            }                                                                                                \
        }                                                                                                    \
        if (cs != 1)                                                                                         \
            for (int64_t j = 0; j < n; j++)                                                                  \
                for (int r = 0; r < ROWS; r++) c[j * cs + r] = buffer[r * NV * VLEN + j];                    \
    }

/* one kernel per row count (edge tiles waste no multiply-adds) and width */
#define KERNELS(ROWS) KERNEL(FN(kernel_##ROWS##x1), ROWS, 1) KERNEL(FN(kernel_##ROWS##x2), ROWS, 2)
#define KERNEL_ROW(ROWS) {FN(kernel_##ROWS##x1), FN(kernel_##ROWS##x2)},
KERNELS(1) KERNELS(2) KERNELS(3) KERNELS(4)
#if MR > 4
KERNELS(5) KERNELS(6)
#endif
#if MR > 6
KERNELS(7) KERNELS(8) KERNELS(9) KERNELS(10) KERNELS(11) KERNELS(12)
#endif
#if MR != 4 && MR != 6 && MR != 12
#error "MR must be 4, 6 or 12"
#endif

typedef void (*FN(kernel_fn))(int64_t kn, const T *a, const T *b, T *c, int64_t rs, int64_t cs, int64_t n,
                              bool load_c);
/* FN(kernels)[rows - 1][vectors - 1] */
static const FN(kernel_fn) FN(kernels)[MR][2] = {
    KERNEL_ROW(1) KERNEL_ROW(2) KERNEL_ROW(3) KERNEL_ROW(4)
#if MR > 4
    KERNEL_ROW(5) KERNEL_ROW(6)
#endif
#if MR > 6
    KERNEL_ROW(7) KERNEL_ROW(8) KERNEL_ROW(9) KERNEL_ROW(10) KERNEL_ROW(11) KERNEL_ROW(12)
#endif
};
#undef KERNELS
#undef KERNEL_ROW
#undef KERNEL

/* ---- packing ----
 * A panel of width W (MR rows of op(A), or NR columns of op(B)) over `depth`
 * steps of k: dst[k][w] = src[w * s_w + k * s_k] for w < wv, 0 for wv <= w < W.
 * Either s_w == 1 (the panel's rows are contiguous in memory: copied) or
 * s_k == 1 (each w is contiguous along k: VLEN x VLEN blocks transposed in
 * registers). */
/* rows of k ahead that a copied panel asks the cache for */
#define PACK_AHEAD 16
static inline __attribute__((always_inline)) void FN(pack_panel)(const T *src, int64_t s_w, int64_t s_k, int64_t wv,
                                                                 int W, int64_t depth, T *restrict dst) {
    if (s_w == 1) {
        if (wv == W) {
            /* one cache line per k, s_k apart: the prefetcher would not run ahead */
            for (int64_t k = 0; k < depth; k++, src += s_k, dst += W) {
                __builtin_prefetch(src + PACK_AHEAD * s_k, 0, 3);
                for (int w = 0; w < W; w++) dst[w] = src[w];
            }
        } else {
            for (int64_t k = 0; k < depth; k++, src += s_k, dst += W) {
                int w = 0;
                for (; w < wv; w++) dst[w] = src[w];
                for (; w < W; w++) dst[w] = 0;
            }
        }
        return;
    }
    int64_t k = 0;
    for (; k + VLEN <= depth; k += VLEN)
        for (int wb = 0; wb < W; wb += VLEN) {
            int lanes = W - wb < VLEN ? W - wb : VLEN;
            int rows = wv - wb < 0 ? 0 : wv - wb < lanes ? (int)(wv - wb) : lanes;
            TRANSPOSE(src + wb * s_w + k, s_w, dst + k * W + wb, W, rows, lanes);
        }
    for (; k < depth; k++)
        for (int w = 0; w < W; w++) dst[k * W + w] = w < wv ? src[w * s_w + k] : 0;
}

static void FN(pack_a_panel)(const T *src, int64_t s_w, int64_t s_k, int64_t wv, int64_t depth, T *restrict dst) {
    FN(pack_panel)(src, s_w, s_k, wv, MR, depth, dst);
}
static void FN(pack_b_panel)(const T *src, int64_t s_w, int64_t s_k, int64_t wv, int64_t depth, T *restrict dst) {
    FN(pack_panel)(src, s_w, s_k, wv, NR, depth, dst);
}

/* ---- blocking ---- */

typedef struct {
    int64_t rows;  /* rows of op(A) per round (a multiple of MR) */
    int64_t cols;  /* columns of op(B) per round (a multiple of NR) */
    int64_t depth; /* k per round */
    int64_t kc;    /* k per register-tile pass (the L1-resident B panel: kc x NR) */
} FN(gemm_blocking);

static int64_t FN(round_up)(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/* Round and pass sizes for an [M,K] @ [K,N] product, from the cache sizes
 * (ops/gemm.h); the same for any thread count. */
static FN(gemm_blocking) FN(gemm_blocking_for)(int64_t M, int64_t N, int64_t K) {
    const tg_gemm_caches *caches = tg_gemm_cache_sizes();
    int64_t es = (int64_t)sizeof(T), Mp = FN(round_up)(M, MR), Np = FN(round_up)(N, NR);
    /* half of L1 for the B panel (the rest: A rows, C tile, stack) */
    int64_t kc = caches->l1 / 2 / (NR * es) / 8 * 8;
    if (kc < 16) kc = 16;
    /* a quarter of the shared L3 for the packed round */
    int64_t budget = caches->l3 / 4 / es;
    if (budget < 4 * kc * (MR + NR)) budget = 4 * kc * (MR + NR);
    FN(gemm_blocking) b = {Mp, Np, K, kc};
    if ((Mp + Np) * K > budget) {
        if ((Mp + Np) * kc <= budget) {
            b.depth = budget / (Mp + Np) / kc * kc; /* several passes per round */
        } else {                                    /* rows and columns cut too */
            b.depth = K < kc ? K : kc;
            b.rows = budget / 2 / b.depth / MR * MR;
            if (b.rows > Mp) b.rows = Mp;
            b.cols = (budget - b.rows * b.depth) / b.depth / NR * NR;
            if (b.cols > Np) b.cols = Np;
        }
        int64_t rounds = (K + b.depth - 1) / b.depth; /* balanced: no thin last round */
        b.depth = (K + rounds - 1) / rounds;
    }
    int64_t passes = (b.depth + kc - 1) / kc;
    b.kc = (b.depth + passes - 1) / passes;
    return b;
}


/* N-major: when N wastes vector lanes that M would fill (N = 10 with 8 or 16
 * lanes), compute C^T = op(B)^T op(A)^T instead, N as the rows of register
 * tiles (exact row counts waste nothing) and M along the vectors. */
static bool FN(n_major)(int64_t M, int64_t N) {
    double lanes_n = (double)N / (double)FN(round_up)(N, VLEN), lanes_m = (double)M / (double)FN(round_up)(M, VLEN);
    return N < NR && lanes_m > 1.1 * lanes_n;
}

/* Elements of the packed A round, rounded up to 64 bytes (the B round follows). */
static int64_t FN(packed_a_elems)(const FN(gemm_blocking) *b) {
    return FN(round_up)(b->rows * b->depth, 64 / (int64_t)sizeof(T));
}

static size_t FN(gemm_scratch)(int64_t M, int64_t N, int64_t K) {
    if (M <= 0 || N <= 0 || K <= 0) return 0;
    FN(gemm_blocking) b = FN(n_major)(M, N) ? FN(gemm_blocking_for)(N, M, K) : FN(gemm_blocking_for)(M, N, K);
    return sizeof(T) * (size_t)(FN(packed_a_elems)(&b) + b.cols * b.depth);
}

/* ---- the product ---- */

typedef struct {
    const T *A, *B;
    T *C;
    int64_t M, N, K;
    int64_t a_sm, a_sk; /* op(A)[i][k] = A[i * a_sm + k * a_sk] */
    int64_t b_sk, b_sn; /* op(B)[k][j] = B[k * b_sk + j * b_sn] */
    int64_t rs, cs;     /* C[i][j] at C[i * rs + j * cs] */
    FN(gemm_blocking) blk;
    T *packed_a; /* a round of op(A): panel i (MR rows) at i * depth * MR, row k of it MR values */
    T *packed_b; /* a round of op(B): panel j (NR columns) at j * depth * NR */
    /* the tasks of every round in one list (a round's packing jobs, then its
     * units): the next one to claim, and how many of each kind are done */
    atomic_llong next_task, packs_done, units_done;
} FN(gemm_plan);

/* One round: rows [i0, i0 + rows) of op(A), columns [j0, j0 + cols) of op(B),
 * k in [k0, k0 + depth); cut into units of `chunk` row tiles x `group`
 * column panels, each walked pass by pass (kc deep), column panel by column
 * panel, row tile by row tile. */
typedef struct {
    int64_t i0, rows, j0, cols, k0, depth;
    int64_t a_panels, packs; /* packing jobs: one per A panel, then one per B panel */
    int64_t row_tiles, panels, kc, chunk, group, groups, units;
} FN(gemm_round);

static FN(gemm_round) FN(round_at)(const FN(gemm_plan) *g, int64_t i0, int64_t j0, int64_t k0, int nt) {
    const FN(gemm_blocking) *b = &g->blk;
    FN(gemm_round) r = {.i0 = i0, .j0 = j0, .k0 = k0};
    r.rows = g->M - i0 < b->rows ? g->M - i0 : b->rows;
    r.cols = g->N - j0 < b->cols ? g->N - j0 : b->cols;
    r.depth = g->K - k0 < b->depth ? g->K - k0 : b->depth;
    r.row_tiles = r.a_panels = (r.rows + MR - 1) / MR;
    r.panels = (r.cols + NR - 1) / NR;
    r.packs = r.a_panels + r.panels;
    /* few row tiles: nothing to keep the B panel in L1 for, one pass */
    r.kc = r.row_tiles <= 2 ? r.depth : b->kc;
    r.chunk = tg_gemm_cache_sizes()->l2 / 2 / (r.kc * MR * (int64_t)sizeof(T));
    if (r.chunk < 1) r.chunk = 1;
    if (r.chunk > r.row_tiles) r.chunk = r.row_tiles;
    int64_t chunks = (r.row_tiles + r.chunk - 1) / r.chunk;
    /* with several threads, about UNITS_PER_THREAD units each, so that claims even out */
    r.groups = nt > 1 ? UNITS_PER_THREAD * nt / chunks : 1;
    if (r.groups < 1) r.groups = 1;
    if (r.groups > r.panels) r.groups = r.panels;
    r.group = (r.panels + r.groups - 1) / r.groups;
    r.groups = (r.panels + r.group - 1) / r.group;
    r.units = chunks * r.groups;
    return r;
}

/* Waits until *counter >= target (another thread finishing a claimed task). */
static void FN(wait_for)(atomic_llong *counter, int64_t target) {
    for (int spins = 0; atomic_load_explicit(counter, memory_order_acquire) < target; spins++) {
        if (spins < 4096)
            SPIN_PAUSE();
        else
            sched_yield(); /* the task's thread may be waiting for this core */
    }
}

static void FN(pack_job)(const FN(gemm_plan) *g, const FN(gemm_round) *r, int64_t job) {
    if (job < r->a_panels) {
        int64_t i = r->i0 + job * MR, m = g->M - i < MR ? g->M - i : MR;
        FN(pack_a_panel)(g->A + i * g->a_sm + r->k0 * g->a_sk, g->a_sm, g->a_sk, m, r->depth,
                         g->packed_a + job * r->depth * MR);
    } else {
        int64_t jb = job - r->a_panels, j = r->j0 + jb * NR, n = g->N - j < NR ? g->N - j : NR;
        FN(pack_b_panel)(g->B + r->k0 * g->b_sk + j * g->b_sn, g->b_sn, g->b_sk, n, r->depth,
                         g->packed_b + jb * r->depth * NR);
    }
}

/* Asks for the cache lines of a C tile of (at most) m x n elements. */
static inline void FN(prefetch_tile)(const T *c, int64_t rs, int64_t cs, int64_t m, int64_t n) {
    if (cs == 1)
        for (int64_t r = 0; r < m; r++) {
            __builtin_prefetch(c + r * rs, 1, 3);
            __builtin_prefetch(c + r * rs + n - 1, 1, 3);
        }
    else
        for (int64_t j = 0; j < n; j++) __builtin_prefetch(c + j * cs, 1, 3);
}

static void FN(multiply_unit)(const FN(gemm_plan) *g, const FN(gemm_round) *r, int64_t unit) {
    int64_t ip0 = unit / r->groups * r->chunk, jp0 = unit % r->groups * r->group;
    int64_t ip1 = ip0 + r->chunk < r->row_tiles ? ip0 + r->chunk : r->row_tiles;
    int64_t jp1 = jp0 + r->group < r->panels ? jp0 + r->group : r->panels;
    for (int64_t p = 0; p < r->depth; p += r->kc) {
        int64_t kn = r->depth - p < r->kc ? r->depth - p : r->kc;
        bool load_c = r->k0 + p > 0;
        for (int64_t jp = jp0; jp < jp1; jp++) {
            int64_t n = r->cols - jp * NR < NR ? r->cols - jp * NR : NR;
            const T *pb = g->packed_b + jp * r->depth * NR + p * NR;
            for (int64_t ip = ip0; ip < ip1; ip++) {
                int64_t m = r->rows - ip * MR < MR ? r->rows - ip * MR : MR;
                T *c = g->C + (r->i0 + ip * MR) * g->rs + (r->j0 + jp * NR) * g->cs;
                /* the next tile's C lines travel from memory while this one computes */
                if (ip + 1 < ip1)
                    FN(prefetch_tile)(c + MR * g->rs, g->rs, g->cs, m, n);
                else if (jp + 1 < jp1)
                    FN(prefetch_tile)(g->C + (r->i0 + ip0 * MR) * g->rs + (r->j0 + (jp + 1) * NR) * g->cs, g->rs,
                                      g->cs, MR, n);
                FN(kernels)[m - 1][n > VLEN](kn, g->packed_a + ip * r->depth * MR + p * MR, pb, c, g->rs, g->cs, n,
                                             load_c);
            }
        }
    }
}

/* The whole product, run by each of `nt` threads. Tasks are claimed in list
 * order; a round's units wait for its packing, its packing for the previous
 * round's units (the buffers are reused and C accumulates). Waiting is on
 * finished work, never on threads arriving: a thread the system delays finds
 * the work done by the others, and nothing waits for it but the region's end. */
static void FN(gemm_run)(FN(gemm_plan) *g, int nt) {
    const FN(gemm_blocking) *b = &g->blk;
    int64_t task = atomic_fetch_add_explicit(&g->next_task, 1, memory_order_relaxed);
    int64_t first = 0, packs_before = 0, units_before = 0; /* tasks, packs and units of earlier rounds */
    for (int64_t j0 = 0; j0 < g->N; j0 += b->cols)
        for (int64_t i0 = 0; i0 < g->M; i0 += b->rows)
            for (int64_t k0 = 0; k0 < g->K; k0 += b->depth) {
                FN(gemm_round) r = FN(round_at)(g, i0, j0, k0, nt);
                for (; task < first + r.packs + r.units;
                     task = atomic_fetch_add_explicit(&g->next_task, 1, memory_order_relaxed)) {
                    if (task < first + r.packs) {
                        FN(wait_for)(&g->units_done, units_before);
                        FN(pack_job)(g, &r, task - first);
                        atomic_fetch_add_explicit(&g->packs_done, 1, memory_order_release);
                    } else {
                        FN(wait_for)(&g->packs_done, packs_before + r.packs);
                        FN(multiply_unit)(g, &r, task - first - r.packs);
                        atomic_fetch_add_explicit(&g->units_done, 1, memory_order_release);
                    }
                }
                first += r.packs + r.units;
                packs_before += r.packs;
                units_before += r.units;
            }
}

static void FN(gemm)(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T *A, int64_t lda,
                     const T *B, int64_t ldb, T *C, int64_t ldc, void *scratch) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = 0;
        return;
    }
    /* op(A)[i][k] and op(B)[k][j] as strides; the N-major product swaps the
     * operands and reads C by columns (fma(a, b, c) == fma(b, a, c): same bits) */
    int64_t a_sm = trans_a ? 1 : lda, a_sk = trans_a ? lda : 1;
    int64_t b_sk = trans_b ? 1 : ldb, b_sn = trans_b ? ldb : 1;
    FN(gemm_plan) g = {.A = A, .B = B, .C = C, .M = M, .N = N, .K = K, .a_sm = a_sm, .a_sk = a_sk,
                       .b_sk = b_sk, .b_sn = b_sn, .rs = ldc, .cs = 1};
    if (FN(n_major)(M, N)) {
        g.A = B, g.B = A, g.M = N, g.N = M;
        g.a_sm = b_sn, g.a_sk = b_sk, g.b_sk = a_sk, g.b_sn = a_sm;
        g.rs = 1, g.cs = ldc;
    }
    g.blk = FN(gemm_blocking_for)(g.M, g.N, g.K);
    g.packed_a = scratch;
    g.packed_b = g.packed_a + FN(packed_a_elems)(&g.blk);
    atomic_init(&g.next_task, 0);
    atomic_init(&g.packs_done, 0);
    atomic_init(&g.units_done, 0);
    int nt = omp_get_max_threads();
    if (nt <= 1 || (double)M * (double)N * (double)K < PARALLEL_WORK) {
        FN(gemm_run)(&g, 1);
        return;
    }
#pragma omp parallel
    FN(gemm_run)(&g, omp_get_num_threads());
}

#undef NR
