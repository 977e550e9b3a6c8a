/* The GEMM body's register kernels, packing and blocking, written once for
 * both dtypes (the threaded product that runs them: ops/gemm_product.h):
 * ops/gemm_variant.h includes this file twice after defining
 *   T             element type (float, double)
 *   FN(name)      name##_f32 / name##_f64
 *   VEC, VLEN     vector type and its element count
 *   MR            rows of a register tile: 4, 6 or 12 (NR = 2 * VLEN columns)
 *   VZERO() VLOAD(p) VSTORE(p, v) VSET1(x) VFMA(a, b, c) (= a*b + c, fused where the ISA has it)
 *   VLOAD_PART(p, n) VSTORE_PART(p, v, n)  the first n < VLEN lanes (0 in the others when loading)
 *   TRANSPOSE(src, lds, dst, ldd, rows, lanes)  dst[c][r] = src[r][c], c < VLEN, r < lanes (0 for r >= rows)
 *   VPAIRS(p)      p[0], p[1] in every pair of lanes
 *   VBLEND(x, y, bits)  x with the lanes whose bit is set taken from y
 * No include guard on purpose.
 *
 * The product C = op(A) op(B) is cut in three levels (docs/gemm.md):
 *   rounds    blocks of rows x depth of op(A) (a share of L3; usually the
 *             whole of A);
 *   slices    of a round's C by columns or by rows, 4 per thread, each
 *             thread owning the same ones at every call of a shape: the
 *             thread packs the A it needs and then, group of column panels
 *             by group, pass by pass, the B, into its own buffers;
 *   tiles     MR x NR register tiles, run over a pass of kc (the A panel of
 *             kc x MR stays in L1 while the group's B panels stream past).
 * A thread takes its own slices, then what is left of the others'; a slice
 * waits for the same slice of the previous round, never for threads arriving.
 * Every C element is one multiply-add chain c = fma(a[k], b[k], c) in k order
 * from 0 (C is stored and reloaded exactly between passes), whatever the cut:
 * results are bit-identical for any thread count, block sizes and
 * orientation. */

#define NR (2 * VLEN)

/* ---- register kernels: c[ROWS, n] (+)= a[kn, ROWS] b[kn, n] ----
 * a is a packed A panel (row k: MR values, the first ROWS used), b a B panel
 * whose row k is at b + k * bs (packed: bs = NR; the first VECS * VLEN
 * values used, n <= VECS * VLEN of them stored). C element (r, j) is at
 * c[r * rs + j * cs]: row-major C (cs == 1) moves through vectors (the last one of a partial tile through
 * masks), column-major C (rs == 1: the N-major product) through a buffer.
 * The k loop stays as written: unrolling it or adding software prefetches
 * measured slower (AMD Zen 3). */
/* one step of k: c[r][:] += a[r] * b[:] */
#define KSTEP(ROWS, VECS)                                                                                       \
    {                                                                                                           \
        VEC bv[VECS];                                                                                           \
        _Pragma("GCC unroll 2") for (int v = 0; v < VECS; v++) bv[v] = VLOAD(b + v * VLEN);                     \
        _Pragma("GCC unroll 12") for (int r = 0; r < ROWS; r++) {                                               \
            VEC ar = VSET1(a[r]);                                                                               \
            _Pragma("GCC unroll 2") for (int v = 0; v < VECS; v++) acc[r][v] = VFMA(ar, bv[v], acc[r][v]);      \
        }                                                                                                       \
        a += MR;                                                                                                \
        b += bs;                                                                                                \
    }
#define KERNEL(NAME, ROWS, VECS)                                                                                \
    static void NAME(int64_t kn, const T *restrict a, const T *restrict b, int64_t bs, T *restrict c,           \
                     int64_t rs, int64_t cs, int64_t n, bool load_c) {                                          \
        VEC acc[ROWS][VECS];                                                                                    \
        T buffer[ROWS * VECS * VLEN] __attribute__((aligned(64)));                                              \
        if (cs != 1) {                                                                                          \
            for (int64_t i = 0; i < ROWS * VECS * VLEN; i++) buffer[i] = 0;                                     \
            if (load_c)                                                                                         \
                for (int64_t j = 0; j < n; j++)                                                                 \
                    for (int r = 0; r < ROWS; r++) buffer[r * VECS * VLEN + j] = c[j * cs + r];                 \
        }                                                                                                       \
        _Pragma("GCC unroll 12") for (int r = 0; r < ROWS; r++) {                                               \
            _Pragma("GCC unroll 2") for (int v = 0; v < VECS; v++) {                                            \
                T *p = c + r * rs + v * VLEN;                                                                   \
                if (cs != 1)                                                                                    \
                    acc[r][v] = VLOAD(buffer + r * VECS * VLEN + v * VLEN);                                     \
                else if (!load_c)                                                                               \
                    acc[r][v] = VZERO();                                                                        \
                else                                                                                            \
                    acc[r][v] = n >= (v + 1) * VLEN ? VLOAD(p) : VLOAD_PART(p, n - v * VLEN);                   \
            }                                                                                                   \
        }                                                                                                       \
        for (int64_t k = 0; k < kn; k++) KSTEP(ROWS, VECS)                                                      \
        _Pragma("GCC unroll 12") for (int r = 0; r < ROWS; r++) {                                               \
            _Pragma("GCC unroll 2") for (int v = 0; v < VECS; v++) {                                            \
                T *p = c + r * rs + v * VLEN;                                                                   \
                if (cs != 1)                                                                                    \
                    VSTORE(buffer + r * VECS * VLEN + v * VLEN, acc[r][v]);                                     \
                else if (n >= (v + 1) * VLEN)                                                                   \
                    VSTORE(p, acc[r][v]);                                                                       \
                else                                                                                            \
                    VSTORE_PART(p, acc[r][v], n - v * VLEN);                                                    \
            }                                                                                                   \
        }                                                                                                       \
        if (cs != 1)                                                                                            \
            for (int64_t j = 0; j < n; j++)                                                                     \
                for (int r = 0; r < ROWS; r++) c[j * cs + r] = buffer[r * VECS * VLEN + j];                     \
    }

/* one kernel per row count (edge tiles waste no multiply-adds) and width
 * (one or two vectors) */
#define KERNELS(ROWS) KERNEL(FN(kernel_##ROWS##x1), ROWS, 1) KERNEL(FN(kernel_##ROWS##x2), ROWS, 2)
#define KERNEL_ROW(ROWS) {FN(kernel_##ROWS##x1), FN(kernel_##ROWS##x2)},
#if MR == 4
#define FOR_EACH_ROW_COUNT(X) X(1) X(2) X(3) X(4)
#elif MR == 6
#define FOR_EACH_ROW_COUNT(X) X(1) X(2) X(3) X(4) X(5) X(6)
#elif MR == 12
#define FOR_EACH_ROW_COUNT(X) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12)
#else
#error "MR must be 4, 6 or 12"
#endif
FOR_EACH_ROW_COUNT(KERNELS)

typedef void (*FN(kernel_fn))(int64_t kn, const T *a, const T *b, int64_t bs, T *c, int64_t rs, int64_t cs,
                              int64_t n, bool load_c);
/* FN(kernels)[rows - 1][vectors - 1] */
static const FN(kernel_fn) FN(kernels)[MR][2] = {FOR_EACH_ROW_COUNT(KERNEL_ROW)};

/* The same tile, c[ROWS, n] (+)= a[kn, ROWS] op(B)[kn, n], n <= NR, for an
 * op(B) whose columns run along k: op(B)[k][j] = bt[j * ldb + k] (the N-major
 * product of a row-major x, or B stored [N,K]). Instead of a packed panel,
 * VLEN steps of k at a time: the NR columns' VLEN x VLEN blocks are
 * transposed into `block`, which stays in L1, and the steps run from it. C
 * goes through a buffer (it is column-major in the N-major product). */
#define KERNEL_TB(NAME, ROWS)                                                                                   \
    static void NAME(int64_t kn, const T *restrict a, const T *restrict bt, int64_t ldb, T *restrict c,         \
                     int64_t rs, int64_t cs, int64_t n, bool load_c) {                                          \
        VEC acc[ROWS][2];                                                                                       \
        T block[VLEN * NR] __attribute__((aligned(64)));                                                        \
        T buffer[ROWS * NR] __attribute__((aligned(64)));                                                       \
        if (load_c) {                                                                                           \
            for (int64_t i = 0; i < ROWS * NR; i++) buffer[i] = 0;                                              \
            for (int64_t j = 0; j < n; j++)                                                                     \
                for (int r = 0; r < ROWS; r++) buffer[r * NR + j] = c[j * cs + r * rs];                         \
        }                                                                                                       \
        _Pragma("GCC unroll 12") for (int r = 0; r < ROWS; r++) {                                               \
            acc[r][0] = load_c ? VLOAD(buffer + r * NR) : VZERO();                                              \
            acc[r][1] = load_c ? VLOAD(buffer + r * NR + VLEN) : VZERO();                                       \
        }                                                                                                       \
        int low = n < VLEN ? (int)n : VLEN, high = n > VLEN ? (int)n - VLEN : 0; /* columns in each half */    \
        const int64_t bs = NR; /* KSTEP's step through `block` */                                               \
        for (int64_t k0 = 0; k0 < kn; k0 += VLEN) {                                                             \
            int64_t steps = kn - k0 < VLEN ? kn - k0 : VLEN;                                                    \
            if (steps == VLEN) {                                                                                \
                TRANSPOSE(bt + k0, ldb, block, NR, low, VLEN);                                                  \
                TRANSPOSE(bt + VLEN * ldb + k0, ldb, block + VLEN, NR, high, VLEN);                             \
            } else {                                                                                            \
                for (int64_t k = 0; k < steps; k++)                                                             \
                    for (int64_t w = 0; w < NR; w++) block[k * NR + w] = w < n ? bt[w * ldb + k0 + k] : 0;      \
            }                                                                                                   \
            const T *b = block;                                                                                 \
            for (int64_t k = 0; k < steps; k++) KSTEP(ROWS, 2)                                                  \
        }                                                                                                       \
        _Pragma("GCC unroll 12") for (int r = 0; r < ROWS; r++) {                                               \
            VSTORE(buffer + r * NR, acc[r][0]);                                                                 \
            VSTORE(buffer + r * NR + VLEN, acc[r][1]);                                                          \
        }                                                                                                       \
        for (int64_t j = 0; j < n; j++)                                                                         \
            for (int r = 0; r < ROWS; r++) c[j * cs + r * rs] = buffer[r * NR + j];                             \
    }
#define KERNEL_TB_ROW(ROWS) FN(kernel_tb_##ROWS),
#define KERNELS_TB(ROWS) KERNEL_TB(FN(kernel_tb_##ROWS), ROWS)
FOR_EACH_ROW_COUNT(KERNELS_TB)
/* FN(kernels_tb)[rows - 1] */
static const FN(kernel_fn) FN(kernels_tb)[MR] = {FOR_EACH_ROW_COUNT(KERNEL_TB_ROW)};

/* The tile of an output two columns past a vector (N = VLEN + 2: a
 * classifier's 10 classes in f64 with AVX-512, or in f32 with AVX2), which
 * would leave VLEN - 2 lanes of its second vector idle: c[ROWS, N] (+)=
 * op(A)[ROWS, kn] b[kn, N], the first VLEN columns as in KSTEP, the last two
 * of VLEN / 2 rows at a time in one vector (row r's pair in lanes 2q, 2q+1,
 * q = r % (VLEN / 2)): its multiplier is the rows' broadcasts blended, its
 * B the two values repeated. Every lane still runs its own chain in k order.
 * A is read where it is, a[r * a_sm + k * a_sk] (no panel to pack: each
 * A element meets VLEN + 2 multiply-adds only, and transposing it cost a
 * fifth of the product); b's row k at b + k * bs as in KERNEL. */
#define KERNEL_PAIRS(NAME, ROWS)                                                                                \
    static void NAME(int64_t kn, const T *restrict a, int64_t a_sm, int64_t a_sk, const T *restrict b,          \
                     int64_t bs, T *restrict c, int64_t rs, bool load_c) {                                      \
        enum { GROUP = VLEN / 2, DUPS = (ROWS + GROUP - 1) / GROUP };                                           \
        VEC acc[ROWS], pair[DUPS];                                                                              \
        T buffer[DUPS * VLEN] __attribute__((aligned(64)));                                                     \
        if (load_c) {                                                                                           \
            for (int i = 0; i < DUPS * VLEN; i++) buffer[i] = 0;                                                \
            for (int r = 0; r < ROWS; r++) {                                                                    \
                buffer[r / GROUP * VLEN + 2 * (r % GROUP)] = c[r * rs + VLEN];                                  \
                buffer[r / GROUP * VLEN + 2 * (r % GROUP) + 1] = c[r * rs + VLEN + 1];                          \
            }                                                                                                   \
        }                                                                                                       \
        _Pragma("GCC unroll 12") for (int r = 0; r < ROWS; r++) acc[r] = load_c ? VLOAD(c + r * rs) : VZERO();  \
        _Pragma("GCC unroll 12") for (int d = 0; d < DUPS; d++) pair[d] = load_c ? VLOAD(buffer + d * VLEN)     \
                                                                                 : VZERO();                     \
        for (int64_t k = 0; k < kn; k++) {                                                                      \
            VEC bv = VLOAD(b), bp = VPAIRS(b + VLEN);                                                           \
            _Pragma("GCC unroll 12") for (int d = 0; d < DUPS; d++) {                                           \
                VEC dup = VSET1(a[d * GROUP * a_sm]); /* row d GROUP's value in every lane, then the others' */ \
                _Pragma("GCC unroll 16") for (int q = 0; q < GROUP; q++) {                                      \
                    int r = d * GROUP + q;                                                                      \
                    if (r >= ROWS) break;                                                                       \
                    VEC ar = VSET1(a[r * a_sm]);                                                                \
                    acc[r] = VFMA(ar, bv, acc[r]);                                                              \
                    if (q > 0) dup = VBLEND(dup, ar, 3u << (2 * q));                                            \
                }                                                                                               \
                pair[d] = VFMA(dup, bp, pair[d]);                                                               \
            }                                                                                                   \
            a += a_sk;                                                                                          \
            b += bs;                                                                                            \
        }                                                                                                       \
        _Pragma("GCC unroll 12") for (int r = 0; r < ROWS; r++) VSTORE(c + r * rs, acc[r]);                     \
        _Pragma("GCC unroll 12") for (int d = 0; d < DUPS; d++) VSTORE(buffer + d * VLEN, pair[d]);             \
        for (int r = 0; r < ROWS; r++) {                                                                        \
            c[r * rs + VLEN] = buffer[r / GROUP * VLEN + 2 * (r % GROUP)];                                      \
            c[r * rs + VLEN + 1] = buffer[r / GROUP * VLEN + 2 * (r % GROUP) + 1];                              \
        }                                                                                                       \
    }
#define KERNEL_PAIRS_ROW(ROWS) FN(kernel_pairs_##ROWS),
#define KERNELS_PAIRS(ROWS) KERNEL_PAIRS(FN(kernel_pairs_##ROWS), ROWS)
FOR_EACH_ROW_COUNT(KERNELS_PAIRS)
typedef void (*FN(kernel_pairs_fn))(int64_t kn, const T *a, int64_t a_sm, int64_t a_sk, const T *b, int64_t bs, T *c,
                                    int64_t rs, bool load_c);
/* FN(kernels_pairs)[rows - 1] */
static const FN(kernel_pairs_fn) FN(kernels_pairs)[MR] = {FOR_EACH_ROW_COUNT(KERNEL_PAIRS_ROW)};
#undef FOR_EACH_ROW_COUNT
#undef KERNELS
#undef KERNELS_PAIRS
#undef KERNEL_PAIRS_ROW
#undef KERNEL_PAIRS
#undef KERNEL_ROW
#undef KERNEL
#undef KERNELS_TB
#undef KERNEL_TB_ROW
#undef KERNEL_TB

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

/* Packs pass [k0, k0 + kn) of the B panels [jp0, jp1) into dst, panel q
 * (from jp0) at q * kn * NR, row k of it NR values (0 past column N). */
static void FN(pack_b_group)(const T *B, int64_t b_sk, int64_t b_sn, int64_t N, int64_t jp0, int64_t jp1, int64_t k0,
                             int64_t kn, T *restrict dst) {
    if (b_sn != 1) { /* B stored [N,K]: each column of op(B) contiguous along k, transposed panel by panel */
        for (int64_t jp = jp0; jp < jp1; jp++) {
            int64_t j = jp * NR, n = N - j < NR ? N - j : NR;
            FN(pack_b_panel)(B + k0 * b_sk + j * b_sn, b_sn, b_sk, n, kn, dst + (jp - jp0) * kn * NR);
        }
        return;
    }
    /* rows of op(B) contiguous along j: read row by row across the group's panels */
    int64_t full = jp1 * NR <= N ? jp1 : N / NR; /* panels [jp0, full) are whole */
    for (int64_t k = 0; k < kn; k++) {
        const T *row = B + (k0 + k) * b_sk;
        __builtin_prefetch(row + PACK_AHEAD * b_sk + jp0 * NR, 0, 3);
        for (int64_t jp = jp0; jp < full; jp++) {
            T *d = dst + (jp - jp0) * kn * NR + k * NR;
            for (int w = 0; w < NR; w++) d[w] = row[jp * NR + w];
        }
        for (int64_t jp = full > jp0 ? full : jp0; jp < jp1; jp++) {
            T *d = dst + (jp - jp0) * kn * NR + k * NR;
            for (int64_t w = 0; w < NR; w++) d[w] = jp * NR + w < N ? row[jp * NR + w] : 0;
        }
    }
}

/* ---- blocking ---- */

typedef struct {
    int64_t rows;  /* rows of op(A) per round (a multiple of MR) */
    int64_t depth; /* k per round */
    int64_t kc;    /* k per pass at most: the A panel of kc x MR stays in L1 while B panels go by */
    int64_t group; /* B panels per group at most: kc x group * NR stay in half of L2 while the row tiles go by */
    int64_t in_place_span; /* bytes: a row-major op(B) is read in place when its row stride times the row tiles stays within */
} FN(gemm_blocking);

static int64_t FN(round_up)(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/* k per pass at most: half of L1 for the A panel (the rest: the B rows
 * streaming past, C tile, stack) */
static int64_t FN(pass_depth)(void) {
    int64_t kc = tg_gemm_cache_sizes()->l1 / 2 / (MR * (int64_t)sizeof(T)) / 8 * 8;
    return kc < 16 ? 16 : kc;
}

/* Round, pass and group sizes for an [M,K] @ [K,N] product, from the cache
 * sizes (ops/gemm.h); the same for any thread count. */
static FN(gemm_blocking) FN(gemm_blocking_for)(int64_t M, int64_t N, int64_t K) {
    const tg_gemm_caches *caches = tg_gemm_cache_sizes();
    int64_t es = (int64_t)sizeof(T), Mp = FN(round_up)(M, MR), kc = FN(pass_depth)();
    /* a quarter of the shared L3 for a round of packed A */
    int64_t budget = caches->l3 / 4 / es;
    if (budget < 4 * kc * MR) budget = 4 * kc * MR;
    FN(gemm_blocking) b = {Mp, K, kc, 1};
    if (Mp * K > budget) {
        if (Mp * kc <= budget) {
            b.depth = budget / Mp / kc * kc; /* several passes per round */
        } else {                             /* rows cut too */
            b.depth = K < kc ? K : kc;
            b.rows = budget / b.depth / MR * MR;
        }
        int64_t rounds = (K + b.depth - 1) / b.depth; /* balanced: no thin last round */
        b.depth = (K + rounds - 1) / rounds;
    }
    if (b.kc > b.depth) b.kc = b.depth;
    /* an eighth of L3 for a group of B panels: each A panel comes from L3
     * once per group, the group's B streams past it at NR values per step
     * (wider groups measured faster than L2-sized ones) */
    b.group = caches->l3 / 8 / (b.kc * NR * es);
    if (b.group > (N + NR - 1) / NR) b.group = (N + NR - 1) / NR;
    if (b.group < 1) b.group = 1;
    /* a row-major op(B) read where it is instead of packed: its panels are
     * row stride apart and every row tile reads them again; while the row
     * tiles times the stride stay within L1's size (a batch of at most a
     * few hundred rows times weights of at most 512 f32 outputs) that costs
     * less than packing (MLP step 2-3% faster with 1 and 2 threads); beyond
     * it (square 1024 and 2048) the rows fall in few cache sets: up to 28%
     * slower (measured on the Zen 5 VM, L1 48 KiB) */
    b.in_place_span = caches->l1;
    return b;
}

/* The tiles of FN(kernels_pairs): N two past a vector (VLEN >= 4, so that
 * a pair is a fraction of it), rows to fill them, and op(A)'s rows along k
 * (trans_a false): the N-major product would transpose every element of
 * A, while with A stored [K,M] it reads it where it is and is as fast or
 * faster (AVX-512). f64 x@W of a 10-class output layer at batch 128: 96
 * against 69 GFLOP/s N-major; f32 with AVX2: 92 against 58. */
static bool FN(by_pairs)(bool trans_a, int64_t M, int64_t N) {
    return VLEN >= 4 && N == VLEN + 2 && M >= MR && !trans_a;
}

/* N-major: when a small N wastes vector lanes that M would fill (N = 10: 10
 * of 16 lanes, or 10 of 12), compute C^T = op(B)^T op(A)^T instead, N as the
 * rows of register tiles (exact row counts waste nothing) and M along the
 * vectors; not where FN(by_pairs) fills them. Its tiles go to C by columns,
 * an element at a time, once a pass: that costs about NR / 2 steps of k
 * per element, so the lanes it saves over a pass must be worth more. The
 * 16 GEMMs of a Winograd convolution, [64, 98] of depth 32 (98 = 3 x 32 + 2
 * columns), were N-major at 112 GFLOP/s and run M-major at 152; a layer's
 * x@W with 10 outputs and depth 32 still gains (79 against 72). */
static bool FN(n_major)(bool trans_a, int64_t M, int64_t N, int64_t K) {
    if (FN(by_pairs)(trans_a, M, N)) return false;
    double lanes_n = (double)N / (double)FN(round_up)(N, VLEN), lanes_m = (double)M / (double)FN(round_up)(M, VLEN);
    int64_t kc = FN(pass_depth)();
    double steps = (double)(K < kc ? K : kc);
    return N < 4 * NR && lanes_m > 1.1 * lanes_n && steps * (1 / lanes_n - 1 / lanes_m) >= NR / 2;
}

/* Elements of the scratch buffer: for each thread, a round of packed A and
 * a group of packed B, each rounded up to 64 bytes. */
static int64_t FN(packed_a_elems)(const FN(gemm_blocking) *b) {
    return FN(round_up)(b->rows * b->depth, 64 / (int64_t)sizeof(T));
}
static int64_t FN(packed_b_elems)(const FN(gemm_blocking) *b) {
    return FN(round_up)(b->group * b->kc * NR, 64 / (int64_t)sizeof(T));
}

/* Elements of one thread's buffers for an M x N product of depth K. */
static int64_t FN(thread_elems)(int64_t M, int64_t N, int64_t K) {
    /* (trans_a is not known here: as much as either orientation needs) */
    int64_t elems = 0;
    for (int trans_a = 0; trans_a < 2; trans_a++) {
        FN(gemm_blocking) b = FN(n_major)(trans_a, M, N, K) ? FN(gemm_blocking_for)(N, M, K)
                                                          : FN(gemm_blocking_for)(M, N, K);
        int64_t e = FN(packed_a_elems)(&b) + FN(packed_b_elems)(&b);
        if (e > elems) elems = e;
    }
    return elems;
}

/* A product by depth (tg_gemm_depth_half): the second half's C, then each
 * thread's buffers, as large as either half needs. */
static int64_t FN(depth_p_elems)(int64_t M, int64_t N) { return FN(round_up)(M * N, 64 / (int64_t)sizeof(T)); }
static int64_t FN(depth_thread_elems)(int64_t M, int64_t N, int64_t K, int64_t K1) {
    int64_t first = FN(thread_elems)(M, N, K1), second = FN(thread_elems)(M, N, K - K1);
    return first > second ? first : second;
}

/* (the flags are not known here: a shape that would go by depth untransposed
 * gets room for it) */
static size_t FN(gemm_scratch)(int64_t M, int64_t N, int64_t K) {
    if (M <= 0 || N <= 0 || K <= 0) return 0;
    int64_t threads = omp_get_max_threads(), elems = threads * FN(thread_elems)(M, N, K);
    int64_t K1 = tg_gemm_depth_half(false, M, N, K);
    if (K1 > 0) {
        int64_t depth = FN(depth_p_elems)(M, N) + threads * FN(depth_thread_elems)(M, N, K, K1);
        if (depth > elems) elems = depth;
    }
    return sizeof(T) * (size_t)elems;
}
