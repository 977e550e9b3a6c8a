/* The GEMM body, written once for both dtypes: ops/gemm_variant.h includes
 * this file twice after defining
 *   T             element type (float, double)
 *   FN(name)      name##_f32 / name##_f64
 *   VEC, VLEN     vector type and its element count
 *   MR            rows of a register tile (NR = 2 * VLEN columns)
 *   KC            depth of one packed block
 *   VZERO() VLOAD(p) VSTORE(p, v) VSET1(x) VFMA(a, b, c) (= a*b + c, fused where the ISA has it)
 *   TRANSPOSE(src, lds, dst, ldd, rows, lanes)  dst[c][r] = src[r][c], c < VLEN, r < lanes
 * No include guard on purpose. */

#define NR (2 * VLEN)

/* The cut of the problem into blocks; identical for every thread count. */
typedef struct {
    bool trans_a, trans_b;
    int64_t M, N, K, lda, ldb, ldc;
    const T *A, *B;
    T *C;
    int64_t kc;          /* depth of every K block but possibly the last */
    int64_t nk;          /* number of K blocks */
    int64_t n_panels;    /* NR-wide column panels of op(B) */
    int64_t row_block;   /* rows of op(A) packed at once (a multiple of MR) */
    T *packed_b;         /* [K, n_panels * NR]: block p at p*kc*n_panels*NR, panel j within at j*depth*NR */
    T *packed_a;         /* [row_block, K]: block p at p*kc*row_block, panel i within at i*depth*MR */
} FN(gemm_plan);

/* ---- register kernels: c[MR, NV*VLEN] (+)= a[kc, MR] b[kc, NR] ----
 * a is a packed panel (row k: MR values), b a packed panel (row k: NR values).
 * Each c element is the chain c = fma(a[k], b[k], c), k = 0..kc-1, starting
 * from c's old value (load_c) or 0. */
#define KERNEL(NAME, NV)                                                                       \
    static inline void NAME(int64_t kc, const T *restrict a, const T *restrict b, T *restrict c, \
                            int64_t ldc, bool load_c) {                                        \
        VEC acc[MR][NV];                                                                       \
        _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++)                                  \
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++)                               \
                acc[r][v] = load_c ? VLOAD(c + r * ldc + v * VLEN) : VZERO();                   \
        for (int64_t k = 0; k < kc; k++) {                                                     \
            VEC bv[NV];                                                                        \
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) bv[v] = VLOAD(b + v * VLEN);   \
            _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++) {                            \
                VEC ar = VSET1(a[r]);                                                          \
                _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++)                           \
                    acc[r][v] = VFMA(ar, bv[v], acc[r][v]);                                     \
            }                                                                                  \
            a += MR;                                                                           \
            b += NR;                                                                           \
        }                                                                                      \
        _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++)                                  \
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++)                               \
                VSTORE(c + r * ldc + v * VLEN, acc[r][v]);                                     \
    }
KERNEL(FN(kernel_wide), 2)
KERNEL(FN(kernel_narrow), 1)
#undef KERNEL

/* One tile c[m, n] (m <= MR, n <= NR). Partial tiles go through a full-size
 * buffer so that the kernels only ever see whole tiles. */
static void FN(tile)(int64_t kc, const T *a, const T *b, T *c, int64_t ldc, int64_t m, int64_t n, bool load_c) {
    bool narrow = n <= VLEN;
    if (m == MR && n == NR) {
        FN(kernel_wide)(kc, a, b, c, ldc, load_c);
        return;
    }
    if (m == MR && n == VLEN) {
        FN(kernel_narrow)(kc, a, b, c, ldc, load_c);
        return;
    }
    T buffer[MR * NR] __attribute__((aligned(64)));
    for (int64_t i = 0; i < MR * NR; i++) buffer[i] = 0;
    if (load_c)
        for (int64_t r = 0; r < m; r++)
            for (int64_t j = 0; j < n; j++) buffer[r * NR + j] = c[r * ldc + j];
    if (narrow)
        FN(kernel_narrow)(kc, a, b, buffer, NR, load_c);
    else
        FN(kernel_wide)(kc, a, b, buffer, NR, load_c);
    for (int64_t r = 0; r < m; r++)
        for (int64_t j = 0; j < n; j++) c[r * ldc + j] = buffer[r * NR + j];
}

/* ---- packing ---- */

/* dst[k][j] = op(B)[k0 + k][j0 + j] for k < depth, j < NR (0 past column n) */
static void FN(pack_b_panel)(const FN(gemm_plan) *g, int64_t k0, int64_t depth, int64_t j0, T *restrict dst) {
    int64_t n = g->N - j0 < NR ? g->N - j0 : NR;
    if (!g->trans_b) { /* rows of B are contiguous along j */
        const T *src = g->B + k0 * g->ldb + j0;
        for (int64_t k = 0; k < depth; k++, src += g->ldb, dst += NR) {
            int64_t j = 0;
            for (; j < n; j++) dst[j] = src[j];
            for (; j < NR; j++) dst[j] = 0;
        }
        return;
    }
    /* B is [N,K]: column j of op(B) is row j0 + j of B, contiguous along k;
     * VLEN x VLEN blocks are transposed in registers */
    const T *src = g->B + j0 * g->ldb + k0;
    int64_t k = 0;
    for (; k + VLEN <= depth; k += VLEN)
        for (int64_t jb = 0; jb < NR; jb += VLEN) {
            int64_t rows = n - jb < 0 ? 0 : n - jb < VLEN ? n - jb : VLEN;
            TRANSPOSE(src + jb * g->ldb + k, g->ldb, dst + k * NR + jb, NR, (int)rows, VLEN);
        }
    for (; k < depth; k++)
        for (int64_t j = 0; j < NR; j++) dst[k * NR + j] = j < n ? src[j * g->ldb + k] : 0;
}

/* dst[k][r] = op(A)[i0 + r][k0 + k] for k < depth, r < MR (0 past row M) */
static void FN(pack_a_panel)(const FN(gemm_plan) *g, int64_t k0, int64_t depth, int64_t i0, T *restrict dst) {
    int64_t m = g->M - i0 < MR ? g->M - i0 : MR;
    if (g->trans_a) { /* A is [K,M]: row k holds op(A)[.][k] contiguously */
        const T *src = g->A + k0 * g->lda + i0;
        for (int64_t k = 0; k < depth; k++, src += g->lda, dst += MR) {
            int64_t r = 0;
            for (; r < m; r++) dst[r] = src[r];
            for (; r < MR; r++) dst[r] = 0;
        }
        return;
    }
    /* A is [M,K]: transposed in VLEN x VLEN blocks (the last one cut to MR rows) */
    const T *src = g->A + i0 * g->lda + k0;
    int64_t k = 0;
    for (; k + VLEN <= depth; k += VLEN)
        for (int64_t rb = 0; rb < MR; rb += VLEN) {
            int64_t lanes = MR - rb < VLEN ? MR - rb : VLEN;
            int64_t rows = m - rb < 0 ? 0 : m - rb < lanes ? m - rb : lanes;
            TRANSPOSE(src + rb * g->lda + k, g->lda, dst + k * MR + rb, MR, (int)rows, (int)lanes);
        }
    for (; k < depth; k++)
        for (int64_t r = 0; r < MR; r++) dst[k * MR + r] = r < m ? src[r * g->lda + k] : 0;
}

/* Tile `tile` of the order below: chunks of `chunk` row panels, column panel
 * by column panel within a chunk. */
static inline void FN(tile_origin)(int64_t tile, int64_t chunk, int64_t mp, int64_t np, int64_t *ip, int64_t *jp) {
    int64_t c = tile / (chunk * np), rest = tile % (chunk * np);
    int64_t cp = mp - c * chunk < chunk ? mp - c * chunk : chunk;
    *jp = rest / cp;
    *ip = c * chunk + rest % cp;
}

/* ---- the blocked product, run by thread `tid` of `nt` ----
 * For each block of rows: pack (B once, on the first row block; A every row
 * block) with the panels split among threads; barrier; then each thread takes
 * a contiguous range of C tiles (in the order of tile_origin) and walks the K
 * blocks over its range. With 2 threads and one row chunk (M <= 384 in f32)
 * that splits C by columns: each thread reads all of A and half of B. */
static void FN(gemm_run)(const FN(gemm_plan) *g, int tid, int nt) {
    int64_t np = g->n_panels;
    for (int64_t i_base = 0; i_base < g->M; i_base += g->row_block) {
        int64_t rows = g->M - i_base < g->row_block ? g->M - i_base : g->row_block;
        int64_t mp = (rows + MR - 1) / MR;
        int64_t jobs_b = i_base == 0 ? g->nk * np : 0, jobs = jobs_b + g->nk * mp;
        for (int64_t job = jobs * tid / nt; job < jobs * (tid + 1) / nt; job++) {
            bool is_b = job < jobs_b;
            int64_t j = is_b ? job : job - jobs_b, per = is_b ? np : mp;
            int64_t p = j / per, panel = j % per, k0 = p * g->kc;
            int64_t depth = g->K - k0 < g->kc ? g->K - k0 : g->kc;
            if (is_b)
                FN(pack_b_panel)(g, k0, depth, panel * NR, g->packed_b + k0 * np * NR + panel * depth * NR);
            else
                FN(pack_a_panel)(g, k0, depth, i_base + panel * MR,
                                 g->packed_a + k0 * g->row_block + panel * depth * MR);
        }
#pragma omp barrier
        /* row chunks of `chunk` panels: the packed A of a chunk stays in L2
         * while the B panel of a column stays in L1 */
        int64_t chunk = A_CHUNK_BYTES / (int64_t)(sizeof(T) * MR * g->kc);
        if (chunk < 1) chunk = 1;
        int64_t tiles = mp * np, lo = tiles * tid / nt, hi = tiles * (tid + 1) / nt;
        for (int64_t p = 0; p < g->nk; p++) {
            int64_t k0 = p * g->kc, depth = g->K - k0 < g->kc ? g->K - k0 : g->kc;
            const T *pa = g->packed_a + k0 * g->row_block, *pb = g->packed_b + k0 * np * NR;
            for (int64_t tile = lo; tile < hi; tile++) {
                int64_t ip, jp;
                FN(tile_origin)(tile, chunk, mp, np, &ip, &jp);
                int64_t i0 = ip * MR, j0 = jp * NR;
                int64_t m = rows - i0 < MR ? rows - i0 : MR, n = g->N - j0 < NR ? g->N - j0 : NR;
                FN(tile)(depth, pa + ip * depth * MR, pb + jp * depth * NR,
                         g->C + (i_base + i0) * g->ldc + j0, g->ldc, m, n, p > 0);
            }
        }
        if (i_base + g->row_block < g->M) {
#pragma omp barrier
        }
    }
}

/* Rows of op(A) packed at once: all of them unless that exceeds ROW_BLOCK_ELEMS. */
static int64_t FN(gemm_row_block)(int64_t M, int64_t K) {
    int64_t rows = ((M + MR - 1) / MR) * MR;
    int64_t cap = (ROW_BLOCK_ELEMS / (K > 0 ? K : 1)) / MR * MR;
    if (cap < MR) cap = MR;
    return rows < cap ? rows : cap;
}

static size_t FN(gemm_scratch)(int64_t M, int64_t N, int64_t K) {
    if (M <= 0 || N <= 0 || K <= 0) return 0;
    int64_t np = (N + NR - 1) / NR;
    return sizeof(T) * (size_t)(K * np * NR + FN(gemm_row_block)(M, K) * K) + 64;
}

static void FN(gemm)(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T *A, int64_t lda,
                     const T *B, int64_t ldb, T *C, int64_t ldc, void *scratch) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = 0;
        return;
    }
    FN(gemm_plan) g = {trans_a, trans_b, M, N, K, lda, ldb, ldc, A, B, C};
    g.nk = (K + KC - 1) / KC;
    g.kc = (K + g.nk - 1) / g.nk; /* balanced: no thin last block */
    g.n_panels = (N + NR - 1) / NR;
    g.row_block = FN(gemm_row_block)(M, K);
    g.packed_b = scratch;
    g.packed_a = g.packed_b + K * g.n_panels * NR;
    if ((double)M * (double)N * (double)K < PARALLEL_WORK) {
        FN(gemm_run)(&g, 0, 1);
        return;
    }
#pragma omp parallel
    FN(gemm_run)(&g, omp_get_thread_num(), omp_get_num_threads());
}

#undef NR
