/* The GEMM kernel variants (ops/gemm.h): every variant this CPU runs, not only
 * the one in use, gives the right products for every flag, dtype and edge
 * tile, and the same bits with 1, 2 and 6 threads: each element is exactly the
 * k-ordered multiply-add chain, whatever the shape's path (narrow N computed
 * N-major, edge tiles, blocks cut from small caches). */
#include "testing.h"

#include <stdlib.h>
#include <omp.h>

#include "core/parallel.h"
#include "ops/gemm.h"

static void test_the_variant_in_use_is_the_first_runnable_one(void **state) {
    (void)state;
    const tg_gemm_variant *first = tg_gemm_variant_at(0);
    assert_non_null(first);
    assert_string_equal(tg_matmul_kernel_name(), first->name);
    assert_string_equal(tg_gemm_kernel_name(), first->name);
    int n = 0;
    while (tg_gemm_variant_at(n)) n++;
    assert_string_equal(tg_gemm_variant_at(n - 1)->name, "portable");
    assert_null(tg_gemm_variant_at(-1));
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    bool found = false;
    for (int i = 0; i < n; i++) found |= strcmp(tg_gemm_variant_at(i)->name, "avx2") == 0;
    assert_true(found == avx2);
#endif
}

static void *scratch_for(size_t bytes) { return aligned_alloc(64, (bytes + 63) / 64 * 64 + 64); }

static void test_every_variant_multiplies_two_by_two(void **state) {
    (void)state;
    for (int i = 0; tg_gemm_variant_at(i); i++) {
        const tg_gemm_variant *v = tg_gemm_variant_at(i);
        const float a32[] = {1, 2, 3, 4}, b32[] = {5, 6, 7, 8};
        const double a64[] = {1, 2, 3, 4}, b64[] = {5, 6, 7, 8};
        float c32[4];
        double c64[4];
        size_t bytes32 = v->scratch_f32(2, 2, 2), bytes64 = v->scratch_f64(2, 2, 2);
        void *scratch = scratch_for(bytes32 > bytes64 ? bytes32 : bytes64);
        v->gemm_f32(false, false, 2, 2, 2, a32, 2, b32, 2, c32, 2, scratch, bytes32);
        v->gemm_f64(false, true, 2, 2, 2, a64, 2, b64, 2, c64, 2, scratch, bytes64); /* [[1,2],[3,4]] @ [[5,7],[6,8]] */
        assert_true(c32[0] == 19 && c32[1] == 22 && c32[2] == 43 && c32[3] == 50);
        assert_true(c64[0] == 17 && c64[1] == 23 && c64[2] == 39 && c64[3] == 53);
        free(scratch);
    }
}

/* op(A) [M,K] @ op(B) [K,N] into C with row stride N + 3, against a double
 * sum; the 3 padding columns of C stay untouched. Returns C (caller frees). */
static double *product(const tg_gemm_variant *v, bool f64, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                       unsigned seed) {
    int64_t ldc = N + 3;
    double *a = malloc(sizeof(double) * (size_t)(M * K)), *b = malloc(sizeof(double) * (size_t)(K * N));
    double *c = malloc(sizeof(double) * (size_t)(M * ldc));
    float *a32 = malloc(sizeof(float) * (size_t)(M * K)), *b32 = malloc(sizeof(float) * (size_t)(K * N));
    float *c32 = malloc(sizeof(float) * (size_t)(M * ldc));
    tg_rng rng = tg_rng_new(seed);
    for (int64_t i = 0; i < M * K; i++) a32[i] = (float)(a[i] = (double)(tg_rng_next(&rng) % 2001) / 1000 - 1);
    for (int64_t i = 0; i < K * N; i++) b32[i] = (float)(b[i] = (double)(tg_rng_next(&rng) % 2001) / 1000 - 1);
    for (int64_t i = 0; i < M * ldc; i++) c32[i] = (float)(c[i] = -7);
    size_t bytes = f64 ? v->scratch_f64(M, N, K) : v->scratch_f32(M, N, K);
    void *scratch = scratch_for(bytes);
    int64_t lda = ta ? M : K, ldb = tb ? K : N;
    if (f64)
        v->gemm_f64(ta, tb, M, N, K, a, lda, b, ldb, c, ldc, scratch, bytes);
    else {
        v->gemm_f32(ta, tb, M, N, K, a32, lda, b32, ldb, c32, ldc, scratch, bytes);
        for (int64_t i = 0; i < M * ldc; i++) c[i] = c32[i];
    }
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < ldc; j++) {
            if (j >= N) {
                assert_true(c[i * ldc + j] == -7);
                continue;
            }
            double want = 0;
            for (int64_t k = 0; k < K; k++) want += a[ta ? k * M + i : i * K + k] * b[tb ? j * K + k : k * N + j];
            double tol = (f64 ? 1e-12 : 1e-5) * (double)K;
            if (fabs(c[i * ldc + j] - want) > tol) {
                print_error("%s %s [%lld,%lld,%lld] ta %d tb %d: C[%lld,%lld] = %g, want %g\n", v->name,
                            f64 ? "f64" : "f32", (long long)M, (long long)K, (long long)N, ta, tb, (long long)i,
                            (long long)j, c[i * ldc + j], want);
                fail();
            }
        }
    free(a), free(b), free(a32), free(b32), free(c32), free(scratch);
    return c;
}

/* Partial register tiles in both directions, K across several depth blocks
 * (256), and an empty K. */
static void test_every_variant_matches_a_plain_sum_on_edge_shapes(void **state) {
    (void)state;
    static const int64_t sizes[][3] = {{1, 1, 1}, {13, 35, 17}, {25, 70, 33}, {12, 32, 520}, {37, 9, 0}};
    for (int i = 0; tg_gemm_variant_at(i); i++)
        for (int d = 0; d < 2; d++)
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
                for (int f = 0; f < 4; f++)
                    free(product(tg_gemm_variant_at(i), d, f & 1, f & 2, sizes[s][0], sizes[s][1], sizes[s][2],
                                 (unsigned)(s + 1)));
}

static void test_every_variant_gives_the_same_bits_with_one_and_two_threads(void **state) {
    (void)state;
    int threads_before = tg_get_num_threads();
    tg_gemm_set_parallel_work(0); /* two threads even on this small product */
    for (int i = 0; tg_gemm_variant_at(i); i++)
        for (int d = 0; d < 2; d++)
            for (int f = 0; f < 4; f++) {
                double *c[2];
                for (int run = 0; run < 2; run++) {
                    tg_set_num_threads(run + 1);
                    c[run] = product(tg_gemm_variant_at(i), d, f & 1, f & 2, 131, 75, 300, 9);
                }
                assert_memory_equal(c[0], c[1], sizeof(double) * 131 * (75 + 3));
                free(c[0]), free(c[1]);
            }
    tg_gemm_set_parallel_work(-1);
    tg_set_num_threads(threads_before);
}

/* ---- exact bits: every element is the chain c = a[k]*b[k] + c, k = 0..K-1 ---- */

typedef struct {
    int64_t M, K, N;
} shape;

/* c = a[0]*b[0] + 0, then c = a[k]*b[k] + c for k = 1..K-1, rounded once per
 * step (fused) or twice (two statements: a compiler may not contract them) */
static double chain(bool f64, bool fused, const double *a, const double *b, int64_t b_step, int64_t K) {
    if (f64) {
        double c = 0;
        for (int64_t k = 0; k < K; k++) {
            double product = a[k] * b[k * b_step];
            c = fused ? fma(a[k], b[k * b_step], c) : c + product;
        }
        return c;
    }
    float c = 0;
    for (int64_t k = 0; k < K; k++) {
        float x = (float)a[k], y = (float)b[k * b_step], product = x * y;
        c = fused ? fmaf(x, y, c) : c + product;
    }
    return c;
}

/* C[i][j] of op(A) [M,K] @ op(B) [K,N] (a: row i of op(A), b: op(B)[0][j],
 * rows N apart): the chain over k, or where the product goes by depth
 * (tg_gemm_depth_half) the chains over the two halves of k, added once */
static double depth_chains(bool f64, bool fused, bool tb, const double *a, const double *b, int64_t M, int64_t N,
                           int64_t K) {
    int64_t K1 = tg_gemm_depth_half(tb, M, N, K);
    if (K1 == 0) return chain(f64, fused, a, b, N, K);
    double first = chain(f64, fused, a, b, N, K1), second = chain(f64, fused, a + K1, b + K1 * N, N, K - K1);
    return f64 ? first + second : (double)((float)first + (float)second);
}

/* element i of an f64 or f32 array */
static void put(void *p, bool f64, int64_t i, double x) {
    if (f64)
        ((double *)p)[i] = x;
    else
        ((float *)p)[i] = (float)x;
}
static double get(const void *p, bool f64, int64_t i) { return f64 ? ((const double *)p)[i] : ((const float *)p)[i]; }

/* For op(A) [M,K] @ op(B) [K,N] with random full-precision values: runs every
 * variant with every transpose flag on 1 and 2 threads (C with row stride
 * N + 3) and asserts every element equals the chain bit for bit and the
 * padding columns are untouched. */
static void assert_exact_chain(bool f64, shape s) {
    int64_t M = s.M, K = s.K, N = s.N, ldc = N + 3;
    size_t es = f64 ? sizeof(double) : sizeof(float);
    double *opa = malloc(sizeof(double) * (size_t)(M * K) + 1), *opb = malloc(sizeof(double) * (size_t)(K * N) + 1);
    double *want[2][2]; /* [tb][fused] */
    for (int w = 0; w < 4; w++) want[w / 2][w % 2] = malloc(sizeof(double) * (size_t)(M * N));
    void *a = malloc(es * (size_t)(M * K) + 1), *b = malloc(es * (size_t)(K * N) + 1);
    void *c = malloc(es * (size_t)(M * ldc));
    tg_rng rng = tg_rng_new((uint64_t)(M * 7919 + K * 131 + N));
    for (int64_t i = 0; i < M * K; i++) { /* values the dtype holds exactly */
        put(a, f64, 0, 2 * tg_rng_uniform(&rng) - 1);
        opa[i] = get(a, f64, 0);
    }
    for (int64_t i = 0; i < K * N; i++) {
        put(b, f64, 0, 2 * tg_rng_uniform(&rng) - 1);
        opb[i] = get(b, f64, 0);
    }
    for (int tb = 0; tb < 2; tb++)
        for (int fused = 0; fused < 2; fused++)
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++)
                    want[tb][fused][i * N + j] = depth_chains(f64, fused, tb, opa + i * K, opb + j, M, N, K);
    for (int v = 0; tg_gemm_variant_at(v); v++)
        for (int f = 0; f < 4; f++)
            for (int threads = 1; threads <= 2; threads++) {
                const tg_gemm_variant *variant = tg_gemm_variant_at(v);
                bool ta = f & 1, tb = f & 2;
                int64_t lda = ta ? M : K, ldb = tb ? K : N;
                for (int64_t i = 0; i < M; i++) /* op(A)[i][k] stored at A[k][i] when transposed */
                    for (int64_t k = 0; k < K; k++) put(a, f64, ta ? k * lda + i : i * lda + k, opa[i * K + k]);
                for (int64_t k = 0; k < K; k++)
                    for (int64_t j = 0; j < N; j++) put(b, f64, tb ? j * ldb + k : k * ldb + j, opb[k * N + j]);
                for (int64_t i = 0; i < M * ldc; i++) put(c, f64, i, -7);
                int threads_before = tg_get_num_threads();
                tg_set_num_threads(threads);
                size_t bytes = f64 ? variant->scratch_f64(M, N, K) : variant->scratch_f32(M, N, K);
                void *scratch = scratch_for(bytes);
                if (f64)
                    variant->gemm_f64(ta, tb, M, N, K, (double *)a, lda, (double *)b, ldb, (double *)c, ldc, scratch,
                                      bytes);
                else
                    variant->gemm_f32(ta, tb, M, N, K, (float *)a, lda, (float *)b, ldb, (float *)c, ldc, scratch,
                                      bytes);
                tg_set_num_threads(threads_before);
                free(scratch);
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < ldc; j++) {
                        double got = get(c, f64, i * ldc + j);
                        double expected = j < N ? want[tb][variant->fused][i * N + j] : -7;
                        if (memcmp(&got, &expected, sizeof got) != 0) {
                            print_error("%s %s [%lld,%lld,%lld] ta %d tb %d, %d threads: C[%lld,%lld] = %.17g, the "
                                        "chain gives %.17g\n",
                                        variant->name, f64 ? "f64" : "f32", (long long)M, (long long)K, (long long)N,
                                        ta, tb, threads, (long long)i, (long long)j, got, expected);
                            fail();
                        }
                    }
            }
    free(opa), free(opb), free(a), free(b), free(c);
    for (int w = 0; w < 4; w++) free(want[w / 2][w % 2]);
}

/* every shape in both dtypes, two threads splitting even the smallest */
static void assert_exact_chain_everywhere(const shape *shapes, size_t n) {
    tg_gemm_set_parallel_work(0);
    for (int d = 0; d < 2; d++)
        for (size_t s = 0; s < n; s++) assert_exact_chain(d, shapes[s]);
    tg_gemm_set_parallel_work(-1);
}

/* The same with the blocking cut for these cache sizes. */
static void assert_exact_chain_with_caches(const tg_gemm_caches *caches, const shape *shapes, size_t n) {
    tg_gemm_set_cache_sizes(caches);
    assert_exact_chain_everywhere(shapes, n);
    tg_gemm_set_cache_sizes(NULL);
}

/* N = 1..17 crosses one and two vectors of every width (4, 8, 16 lanes) and
 * takes the N-major path where M fills the lanes better. */
static void test_narrow_outputs_n_1_to_17_are_the_exact_chain(void **state) {
    (void)state;
    shape shapes[2 * 17];
    for (int n = 1; n <= 17; n++) {
        shapes[2 * (n - 1)] = (shape){37, 29, n};
        shapes[2 * (n - 1) + 1] = (shape){520, 70, n};
    }
    assert_exact_chain_everywhere(shapes, sizeof shapes / sizeof shapes[0]);
}

/* Depth 1, odd sizes, and the Winograd convolution's [64, 98] of depth 32
 * (M-major: too shallow for N-major to pay) with its transpose. */
static void test_depth_one_and_odd_sizes_are_the_exact_chain(void **state) {
    (void)state;
    static const shape shapes[] = {{1, 1, 1},      {13, 1, 40}, {40, 1, 13},  {300, 1, 300},
                                   {1, 77, 1},     {1, 300, 45}, {45, 300, 1}, {71, 53, 67},
                                   {131, 300, 75}, {7, 5, 33},   {64, 32, 98}, {98, 32, 64}};
    assert_exact_chain_everywhere(shapes, sizeof shapes / sizeof shapes[0]);
}

/* A layer's x @ W (a batch smaller than its in and out sizes, K >= 256)
 * goes by depth: the two halves of k each a chain, added once; not when B
 * is stored transposed, the batch is as large as a size, or k is short. */
static void test_a_layers_product_goes_by_depth(void **state) {
    (void)state;
    assert_int_equal(tg_gemm_depth_half(false, 128, 256, 784), 392);
    assert_int_equal(tg_gemm_depth_half(false, 100, 260, 301), 150);
    assert_int_equal(tg_gemm_depth_half(true, 128, 256, 784), 0);
    assert_int_equal(tg_gemm_depth_half(false, 256, 256, 784), 0);
    assert_int_equal(tg_gemm_depth_half(false, 128, 256, 255), 0);
    static const shape shapes[] = {{100, 301, 260}, {33, 256, 70}, {128, 256, 128}};
    assert_exact_chain_everywhere(shapes, sizeof shapes / sizeof shapes[0]);
}

/* Products near the threshold take the way measured faster for their size:
 * each way tried three times (threads first), then the faster, the other way every
 * 32nd product; one slow product does not turn the verdict; other sizes and
 * products far above the threshold are not affected. */
static void test_threads_by_size_follow_the_faster_way(void **state) {
    (void)state;
    tg_gemm_forget_times();
    const double work = 3.0 * (1 << 21), other = 3.0 * (1 << 24), huge = 1e12;
    bool first[6];
    for (int k = 0; k < 6; k++) { /* the first product alone is cold: the best of the tries counts */
        first[k] = tg_gemm_threads_for(work);
        tg_gemm_note_time(work, first[k], first[k] ? 40e-6 : k == 1 ? 900e-6 : 20e-6); /* threads: twice as slow */
    }
    assert_true(first[0] && !first[1] && first[2] && !first[3] && first[4] && !first[5]);
    int threads = 0;
    for (int k = 0; k < 64; k++) {
        bool t = tg_gemm_threads_for(work);
        threads += t;
        tg_gemm_note_time(work, t, t ? 40e-6 : 20e-6);
    }
    assert_int_equal(threads, 2); /* the 32nd and the 64th */
    tg_gemm_note_time(work, false, 50e-3); /* preempted once: counted as twice the average */
    assert_false(tg_gemm_threads_for(work));
    assert_true(tg_gemm_threads_for(other)); /* not tried yet: threads first */
    assert_true(tg_gemm_threads_for(huge));
    /* the machine changes: threads get faster, and the tries every 32nd product find it */
    for (int k = 0; k < 32 * 8; k++) {
        bool t = tg_gemm_threads_for(work);
        tg_gemm_note_time(work, t, t ? 5e-6 : 20e-6);
    }
    assert_true(tg_gemm_threads_for(work));
    tg_gemm_forget_times();
}

/* One row tile (M <= MR after the N-major swap too): whole panels of a
 * row-major op(B) are read in place, a partial last one packed. The weight
 * gradient of an output layer of 10 (X^T @ G), a batch of 7, a wide one. */
static void test_one_row_tile_reading_b_in_place_is_the_exact_chain(void **state) {
    (void)state;
    static const shape shapes[] = {{256, 128, 10}, {7, 300, 45}, {3, 64, 1000}, {12, 700, 96}};
    assert_exact_chain_everywhere(shapes, sizeof shapes / sizeof shapes[0]);
}

/* One row tile whose op(B) has its columns along k (the N-major x@W of an
 * output layer of 10, a row-major x; B stored [N,K]): the kernel transposes
 * blocks of B as it goes instead of packing panels. Depths that are and are
 * not multiples of the vector width, last panels of 1 to NR - 1 columns. */
static void test_one_row_tile_transposing_b_as_it_goes_is_the_exact_chain(void **state) {
    (void)state;
    static const shape shapes[] = {{128, 256, 10}, {128, 512, 10}, {100, 37, 10}, {61, 5, 3},
                                   {4, 19, 700},   {12, 64, 33},   {9, 300, 17}};
    assert_exact_chain_everywhere(shapes, sizeof shapes / sizeof shapes[0]);
}

/* Outputs two columns past a vector (N = VLEN + 2: 6, 10 and 18 for vectors
 * of 4, 8 and 16 lanes; a row-major op(A)) run the tiles that hold the last
 * two columns of several rows in one vector: rows that fill the tiles'
 * groups of rows and rows that leave a group partial, depth 1, and with
 * small caches several passes (C stored and loaded back) and rounds; B read
 * in place or packed (transposed); a batch of 8 (AVX2's tiles of 6 rows,
 * f32) whose x@W also goes by depth. */
static void test_outputs_two_past_a_vector_are_the_exact_chain(void **state) {
    (void)state;
    static const shape shapes[] = {{12, 1, 10},  {13, 29, 6},  {37, 300, 10}, {131, 70, 18},
                                   {25, 300, 18}, {14, 40, 6}, {128, 512, 10}, {50, 9, 10},
                                   {8, 300, 10}}; /* (AVX2 f32: by pairs and by depth) */
    assert_exact_chain_everywhere(shapes, sizeof shapes / sizeof shapes[0]);
    tg_gemm_caches small = {4 << 10, 16 << 10, 64 << 10};
    assert_exact_chain_with_caches(&small, shapes, sizeof shapes / sizeof shapes[0]);
}

/* A row-major B is read in place while the row tiles times its row stride
 * stay within L1's size, packed beyond: with an L1 of 16 KiB, 100 rows
 * (9 tiles of 12 with AVX-512, more with narrower tiles) and B rows of 300
 * f32 (1200 bytes) are read in place, of 600 f32 or 300 f64 (2400) packed;
 * both the chain. */
static void test_several_row_tiles_reading_b_in_place_or_packed_are_the_exact_chain(void **state) {
    (void)state;
    static const shape shapes[] = {{100, 70, 300}, {100, 70, 600}, {40, 129, 64}, {200, 33, 100}};
    tg_gemm_caches small = {16 << 10, 256 << 10, 4 << 20};
    assert_exact_chain_with_caches(&small, shapes, sizeof shapes / sizeof shapes[0]);
}

/* A thread the system delays: the others take its slices of C (each
 * thread's list is open to all once its own is done) and the bits stay
 * the chain's; the second thread 5 ms late, the first one too (the caller
 * then finds its own slices taken). Caches of 16 KiB / 64 KiB / 256 KiB cut
 * the larger products into rounds along K, which wait for each other; the
 * last shape goes by depth (each thread a half of k, then the other's). */
static void test_the_slices_of_a_late_thread_are_taken_by_the_other(void **state) {
    (void)state;
    static const shape shapes[] = {{37, 29, 90}, {131, 300, 75}, {300, 64, 40}, {12, 200, 70}, {20, 300, 64}};
    tg_gemm_caches small = {16 << 10, 64 << 10, 256 << 10};
    for (int late = 1; late >= 0; late--) {
        tg_gemm_set_late_thread(late, 5000);
        assert_exact_chain_with_caches(&small, shapes, sizeof shapes / sizeof shapes[0]);
    }
    tg_gemm_set_late_thread(-1, 0);
}

/* With caches of 4 KiB / 16 KiB / 64 KiB the blocking cuts these products
 * into many rounds along K, rows and columns, and many depth passes: still
 * the same chain, on 1 and 2 threads. */
static void test_products_cut_for_small_caches_are_the_exact_chain(void **state) {
    (void)state;
    static const shape shapes[] = {{150, 170, 190}, {97, 300, 11}, {300, 64, 40}, {40, 257, 300}};
    tg_gemm_caches small = {4 << 10, 16 << 10, 64 << 10};
    tg_gemm_set_cache_sizes(&small);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) { /* each thread: less than packing all */
        const tg_gemm_variant *v = tg_gemm_variant_at(0);
        assert_true(v->scratch_f32(shapes[s].M, shapes[s].N, shapes[s].K) / (size_t)omp_get_max_threads() <
                    sizeof(float) * (size_t)((shapes[s].M + shapes[s].N) * shapes[s].K));
    }
    assert_exact_chain_everywhere(shapes, sizeof shapes / sizeof shapes[0]);
    tg_gemm_set_cache_sizes(NULL);
}

static void test_cache_sizes_are_plausible_and_can_be_forced(void **state) {
    (void)state;
    const tg_gemm_caches *c = tg_gemm_cache_sizes();
    assert_true(c->l1 >= 16 << 10 && c->l1 <= c->l2 && c->l2 < c->l3 && c->l3 <= 32 << 20);
    tg_gemm_caches small = {4 << 10, 16 << 10, 64 << 10};
    tg_gemm_set_cache_sizes(&small);
    assert_true(tg_gemm_cache_sizes()->l3 == 64 << 10);
    assert_true(tg_gemm_parallel_work() > 0);
    tg_gemm_set_cache_sizes(NULL);
    assert_true(tg_gemm_cache_sizes()->l3 == c->l3);
}

/* Products follow core/parallel's back-off: late regions in a row (a
 * thread left in the run queue of a busy machine) send the next products to
 * one thread, one late region does not; a test that set the threshold gets
 * threads always. */
static void test_late_regions_in_a_row_make_the_next_products_serial(void **state) {
    (void)state;
    int threads = tg_get_num_threads();
    tg_set_num_threads(2); /* no back-off */
    assert_true(tg_gemm_threads_pay());
    tg_parallel_note_region(1e-4, 10e-3); /* one late region: a hiccup */
    assert_true(tg_gemm_threads_pay());
    tg_parallel_note_region(1e-4, 10e-3);
    tg_parallel_note_region(1e-4, 10e-3); /* three in a row */
    assert_false(tg_gemm_threads_pay());
    tg_gemm_set_parallel_work(0);
    assert_true(tg_gemm_threads_pay());
    tg_gemm_set_parallel_work(-1);
    assert_false(tg_gemm_threads_pay());
    tg_set_num_threads(2); /* setting the count ends the back-off */
    assert_true(tg_gemm_threads_pay());
    tg_set_num_threads(threads);
}

/* More threads than a product has row blocks in flight, on few cores (the
 * system preempts them mid-slice): with small caches a product is many row
 * blocks, each several rounds deep, and a slice's round may start only once
 * the round before it on the same rows is done, never because a round of
 * later rows marked the slice first. 400 products with 6 threads give the
 * one-thread bits every time (when a later round's mark let the next round
 * in early, 5% of them differed on a 2-core machine). */
static void test_many_threads_on_many_rounds_give_the_one_thread_bits(void **state) {
    (void)state;
    enum { M = 300, K = 257, N = 190, THREADS = 6, PRODUCTS = 400 };
    int threads_before = tg_get_num_threads();
    tg_gemm_caches small = {4 << 10, 16 << 10, 64 << 10};
    tg_gemm_set_cache_sizes(&small);
    tg_gemm_set_parallel_work(0);
    float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * K * N);
    float *once = malloc(sizeof(float) * M * N), *c = malloc(sizeof(float) * M * N);
    assert_non_null(a), assert_non_null(b), assert_non_null(once), assert_non_null(c);
    for (int64_t i = 0; i < M * K; i++) a[i] = (float)((i * 7919 % 1000) / 1000.0 - 0.5);
    for (int64_t i = 0; i < K * N; i++) b[i] = (float)((i * 104729 % 1000) / 1000.0 - 0.5);
    for (int v = 0; tg_gemm_variant_at(v); v++) {
        const tg_gemm_variant *variant = tg_gemm_variant_at(v);
        tg_set_num_threads(THREADS); /* scratch for every thread */
        size_t bytes = variant->scratch_f32(M, N, K);
        void *scratch = scratch_for(bytes);
        tg_set_num_threads(1);
        variant->gemm_f32(false, false, M, N, K, a, K, b, N, once, N, scratch, bytes);
        tg_set_num_threads(THREADS);
        int differ = 0;
        for (int run = 0; run < PRODUCTS; run++) {
            memset(c, 0, sizeof(float) * M * N);
            variant->gemm_f32(false, false, M, N, K, a, K, b, N, c, N, scratch, bytes);
            differ += memcmp(c, once, sizeof(float) * M * N) != 0;
        }
        free(scratch);
        if (differ) print_error("%s: %d of %d products with %d threads differ from one thread's\n", variant->name,
                                differ, PRODUCTS, THREADS);
        assert_int_equal(differ, 0);
    }
    tg_set_num_threads(threads_before);
    free(a), free(b), free(once), free(c);
}

/* What a test forces goes back to the defaults even when it fails, so that
 * one failure does not show up again in the tests after it. */
static int restore_defaults(void **state) {
    (void)state;
    tg_gemm_set_cache_sizes(NULL);
    tg_gemm_set_parallel_work(-1);
    tg_gemm_set_late_thread(-1, 0);
    return 0;
}
#define TEST(f) cmocka_unit_test_teardown(f, restore_defaults)

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST(test_the_variant_in_use_is_the_first_runnable_one),
        TEST(test_every_variant_multiplies_two_by_two),
        TEST(test_every_variant_matches_a_plain_sum_on_edge_shapes),
        TEST(test_one_row_tile_reading_b_in_place_is_the_exact_chain),
        TEST(test_one_row_tile_transposing_b_as_it_goes_is_the_exact_chain),
        TEST(test_a_layers_product_goes_by_depth),
        TEST(test_threads_by_size_follow_the_faster_way),
        TEST(test_every_variant_gives_the_same_bits_with_one_and_two_threads),
        TEST(test_narrow_outputs_n_1_to_17_are_the_exact_chain),
        TEST(test_depth_one_and_odd_sizes_are_the_exact_chain),
        TEST(test_products_cut_for_small_caches_are_the_exact_chain),
        TEST(test_cache_sizes_are_plausible_and_can_be_forced),
        TEST(test_the_slices_of_a_late_thread_are_taken_by_the_other),
        TEST(test_outputs_two_past_a_vector_are_the_exact_chain),
        TEST(test_several_row_tiles_reading_b_in_place_or_packed_are_the_exact_chain),
        TEST(test_late_regions_in_a_row_make_the_next_products_serial),
        TEST(test_many_threads_on_many_rounds_give_the_one_thread_bits),
    };
    return cmocka_run_group_tests_name("gemm_variants", tests, NULL, NULL);
}
