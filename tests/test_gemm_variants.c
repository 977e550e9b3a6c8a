/* The GEMM kernel variants (ops/gemm.h): every variant this CPU runs, not only
 * the one in use, gives the right products for every flag, dtype and edge
 * tile, and the same bits with 1 and 2 threads. */
#include "testing.h"

#include <stdlib.h>

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
        void *scratch = scratch_for(v->scratch_f64(2, 2, 2));
        v->gemm_f32(false, false, 2, 2, 2, a32, 2, b32, 2, c32, 2, scratch);
        v->gemm_f64(false, true, 2, 2, 2, a64, 2, b64, 2, c64, 2, scratch); /* [[1,2],[3,4]] @ [[5,7],[6,8]] */
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
    void *scratch = scratch_for(f64 ? v->scratch_f64(M, N, K) : v->scratch_f32(M, N, K));
    int64_t lda = ta ? M : K, ldb = tb ? K : N;
    if (f64)
        v->gemm_f64(ta, tb, M, N, K, a, lda, b, ldb, c, ldc, scratch);
    else {
        v->gemm_f32(ta, tb, M, N, K, a32, lda, b32, ldb, c32, ldc, scratch);
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
    tg_set_num_threads(threads_before);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_variant_in_use_is_the_first_runnable_one),
        cmocka_unit_test(test_every_variant_multiplies_two_by_two),
        cmocka_unit_test(test_every_variant_matches_a_plain_sum_on_edge_shapes),
        cmocka_unit_test(test_every_variant_gives_the_same_bits_with_one_and_two_threads),
    };
    return cmocka_run_group_tests_name("gemm_variants", tests, NULL, NULL);
}
