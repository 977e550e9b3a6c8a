/* Matrix products (ops/matmul.h): 2-D, batched 3-D and 3-D @ 2-D, every
 * transpose-flag combination, against a naive triple loop on random data;
 * gradients (first and second order) against central differences; shape
 * errors; determinism across thread counts. */
#include "central_difference.h"

#include "ops/gemm.h"

static int setup(void **state) {
    *state = tg_tape_new();
    return 0;
}
static int teardown(void **state) {
    tg_tape_free(*state);
    return 0;
}

static const tg_dtype dtypes[2] = {TG_F32, TG_F64};

static void test_two_by_three_times_three_by_two_by_hand(void **state) {
    tg_tape *t = *state;
    for (int d = 0; d < 2; d++) {
        tg_tensor *a = TENSOR(t, dtypes[d], SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
        tg_tensor *b = TENSOR(t, dtypes[d], SHAPE(3, 2), 7, 8, 9, 10, 11, 12);
        tg_tensor *c = tg_matmul(t, a, b);
        assert_shape(c, SHAPE(2, 2));
        assert_int_equal(c->dtype, dtypes[d]);
        ASSERT_VALUES(c, 0, 58, 64, 139, 154);
        /* a^T a: [3,2] @ [2,3] via the flag */
        ASSERT_VALUES(tg_matmul_ex(t, a, a, true, false), 0, 17, 22, 27, 22, 29, 36, 27, 36, 45);
        /* a a^T */
        ASSERT_VALUES(tg_matmul_ex(t, a, a, false, true), 0, 14, 32, 32, 77);
    }
}

/* element [r][c] of op(x) for the matrix at `base` with stored shape [R, C] */
static double at(const tg_tensor *x, int64_t base, int64_t cols, bool transposed, int64_t r, int64_t c) {
    return transposed ? tg_get(x, base + c * cols + r) : tg_get(x, base + r * cols + c);
}

/* C[b] = op(A[b]) @ op(B[b or shared]) by the definition, in double */
static void naive(const tg_tensor *a, const tg_tensor *b, bool ta, bool tb, int64_t batch, int64_t M, int64_t K,
                  int64_t N, double *out) {
    int64_t acols = ta ? M : K, bcols = tb ? K : N;
    for (int64_t i = 0; i < batch; i++) {
        int64_t abase = i * M * K, bbase = b->ndim == 3 ? i * K * N : 0;
        for (int64_t r = 0; r < M; r++)
            for (int64_t c = 0; c < N; c++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++) s += at(a, abase, acols, ta, r, k) * at(b, bbase, bcols, tb, k, c);
                out[(i * M + r) * N + c] = s;
            }
    }
}

/* batch 0: 2-D @ 2-D; b_batched: 3-D @ 3-D, else 3-D @ 2-D */
static void check_against_naive(tg_tape *t, tg_dtype dt, int64_t batch, bool b_batched, int64_t M, int64_t K,
                                int64_t N, bool ta, bool tb) {
    tg_tape_reset(t);
    tg_rng rng = tg_rng_new((uint64_t)(M * 1000003 + K * 1009 + N + ta * 2 + tb));
    int64_t sa[3] = {batch, ta ? K : M, ta ? M : K}, sb[3] = {batch, tb ? N : K, tb ? K : N};
    tg_tensor *a = batch ? tg_uniform(t, &rng, dt, 3, sa, -1, 1) : tg_uniform(t, &rng, dt, 2, sa + 1, -1, 1);
    tg_tensor *b = batch && b_batched ? tg_uniform(t, &rng, dt, 3, sb, -1, 1) : tg_uniform(t, &rng, dt, 2, sb + 1, -1, 1);
    tg_tensor *c = tg_matmul_ex(t, a, b, ta, tb);
    if (!c) {
        print_error("%s\n", tg_tape_error(t));
        fail();
    }
    int64_t nb = batch ? batch : 1;
    if (batch)
        assert_shape(c, 3, (int64_t[]){batch, M, N});
    else
        assert_shape(c, 2, (int64_t[]){M, N});
    double *want = test_malloc(sizeof(double) * (size_t)(nb * M * N));
    naive(a, b, ta, tb, nb, M, K, N, want);
    double tol = dt == TG_F32 ? 2e-5 * (double)K : 1e-13 * (double)K;
    for (int64_t i = 0; i < nb * M * N; i++) {
        if (!(fabs(tg_get(c, i) - want[i]) <= tol)) {
            print_error("%s batch %lld [%lld,%lld,%lld] ta %d tb %d: element %lld is %.10g, expected %.10g\n",
                        tg_dtype_name(dt), (long long)batch, (long long)M, (long long)K, (long long)N, ta, tb,
                        (long long)i, tg_get(c, i), want[i]);
            test_free(want);
            fail();
        }
    }
    test_free(want);
}

static void test_two_d_odd_sizes_match_the_naive_product_for_every_flag(void **state) {
    for (int d = 0; d < 2; d++)
        for (int f = 0; f < 4; f++) {
            check_against_naive(*state, dtypes[d], 0, false, 37, 53, 29, f & 1, f & 2);
            check_against_naive(*state, dtypes[d], 0, false, 1, 7, 1, f & 1, f & 2);
            check_against_naive(*state, dtypes[d], 0, false, 5, 1, 9, f & 1, f & 2);
        }
}

static void test_two_d_above_the_parallel_threshold_matches_the_naive_product(void **state) {
    for (int d = 0; d < 2; d++)
        for (int f = 0; f < 4; f++) check_against_naive(*state, dtypes[d], 0, false, 300, 200, 150, f & 1, f & 2);
}

static void test_deep_and_wide_products_cross_the_kernel_blocks(void **state) {
    /* K > 256 and N > 256: several depth and column blocks */
    for (int d = 0; d < 2; d++) check_against_naive(*state, dtypes[d], 0, false, 6, 600, 520, false, false);
    check_against_naive(*state, TG_F64, 0, false, 9, 513, 257, true, true);
}

/* The kernel works on register tiles of up to 12 rows x 32 columns and K
 * blocks of up to 256: sizes one below, at and above those edges, single
 * rows, columns and depths, for every flag. */
static void test_tile_edges_match_the_naive_product_for_every_flag(void **state) {
    static const int64_t sizes[][3] = {
        {1, 1, 1},   {1, 300, 1},  {1, 9, 70},   {70, 9, 1},   {12, 1, 32},  {11, 5, 31},  {13, 17, 33},
        {24, 16, 16}, {25, 15, 17}, {5, 257, 8}, {7, 513, 47}, {36, 8, 64}, {4, 31, 10},  {37, 3, 65},
    };
    for (int d = 0; d < 2; d++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            for (int f = 0; f < 4; f++)
                check_against_naive(*state, dtypes[d], 0, false, sizes[i][0], sizes[i][1], sizes[i][2], f & 1, f & 2);
}

/* Operands of 2.2 million elements: more than the packing budget of a round
 * (a quarter of L3) on most CPUs, so packed in several rounds, across threads. */
static void test_tall_products_pack_in_several_rounds(void **state) {
    for (int d = 0; d < 2; d++)
        for (int f = 0; f < 4; f += 3) check_against_naive(*state, dtypes[d], 0, false, 2200, 1000, 3, f & 1, f & 2);
    /* rows beyond one L2-sized chunk of tiles, several column panels */
    check_against_naive(*state, TG_F64, 0, false, 430, 40, 70, false, true);
}

/* Outputs 1..17 wide (an MLP's 10 classes among them) go through narrow
 * tiles or the N-major product; so does a batch of them sharing the matrix. */
static void test_narrow_outputs_match_the_naive_product_for_every_flag(void **state) {
    for (int d = 0; d < 2; d++)
        for (int64_t n = 1; n <= 17; n++)
            for (int f = 0; f < 4; f++) check_against_naive(*state, dtypes[d], 0, false, 70, 33, n, f & 1, f & 2);
    for (int d = 0; d < 2; d++)
        for (int f = 0; f < 4; f++) check_against_naive(*state, dtypes[d], 3, false, 40, 64, 10, f & 1, f & 2);
}

/* Empty operands: a zero-sized output, or K = 0 giving a zero matrix. */
static void test_empty_dimensions_give_empty_or_zero_products(void **state) {
    tg_tape *t = *state;
    for (int d = 0; d < 2; d++) {
        tg_tensor *c = tg_matmul(t, tg_ones(t, dtypes[d], SHAPE(0, 3)), tg_ones(t, dtypes[d], SHAPE(3, 4)));
        assert_shape(c, SHAPE(0, 4));
        c = tg_matmul_ex(t, tg_ones(t, dtypes[d], SHAPE(2, 3)), tg_ones(t, dtypes[d], SHAPE(0, 3)), false, true);
        assert_shape(c, SHAPE(2, 0));
        c = tg_matmul(t, tg_ones(t, dtypes[d], SHAPE(2, 0)), tg_ones(t, dtypes[d], SHAPE(0, 3)));
        assert_shape(c, SHAPE(2, 3));
        ASSERT_VALUES(c, 0, 0, 0, 0, 0, 0, 0);
        c = tg_matmul_ex(t, tg_ones(t, dtypes[d], SHAPE(0, 2)), tg_ones(t, dtypes[d], SHAPE(3, 0)), true, true);
        assert_shape(c, SHAPE(2, 3));
        ASSERT_VALUES(c, 0, 0, 0, 0, 0, 0, 0);
    }
}

/* f32 accumulates in f32 like BLAS: with K = 1000 positive terms, every
 * element within 1e-5 relative of the double-precision sum. */
static void test_f32_products_of_depth_1000_are_accurate_to_1e_5(void **state) {
    tg_tape *t = *state;
    for (int f = 0; f < 4; f++) {
        bool ta = f & 1, tb = f & 2;
        int64_t M = 40, K = 1000, N = 50;
        tg_tape_reset(t);
        tg_rng rng = tg_rng_new(100 + (uint64_t)f);
        tg_tensor *a = tg_uniform(t, &rng, TG_F32, SHAPE(ta ? K : M, ta ? M : K), 0, 1);
        tg_tensor *b = tg_uniform(t, &rng, TG_F32, SHAPE(tb ? N : K, tb ? K : N), 0, 1);
        tg_tensor *c = tg_matmul_ex(t, a, b, ta, tb);
        assert_non_null(c);
        double *want = test_malloc(sizeof(double) * (size_t)(M * N)), worst = 0;
        naive(a, b, ta, tb, 1, M, K, N, want);
        for (int64_t i = 0; i < M * N; i++) {
            double rel = fabs(tg_get(c, i) - want[i]) / want[i];
            worst = rel > worst ? rel : worst;
        }
        test_free(want);
        if (!(worst <= 1e-5)) {
            print_error("ta %d tb %d: largest relative error %.3g\n", ta, tb, worst);
            fail();
        }
    }
}

static void test_batched_three_d_matches_the_naive_product_for_every_flag(void **state) {
    for (int d = 0; d < 2; d++)
        for (int f = 0; f < 4; f++) {
            check_against_naive(*state, dtypes[d], 3, true, 37, 53, 29, f & 1, f & 2);
            check_against_naive(*state, dtypes[d], 2, true, 130, 70, 90, f & 1, f & 2);
        }
}

static void test_three_d_at_two_d_shares_the_matrix_for_every_flag(void **state) {
    for (int d = 0; d < 2; d++)
        for (int f = 0; f < 4; f++) {
            check_against_naive(*state, dtypes[d], 4, false, 37, 53, 29, f & 1, f & 2);
            check_against_naive(*state, dtypes[d], 2, false, 150, 200, 120, f & 1, f & 2);
        }
}

static void test_results_are_bit_identical_with_one_and_two_threads(void **state) {
    tg_tape *t = *state, *src = tg_tape_new();
    int threads_before = tg_get_num_threads();
    tg_rng rng = tg_rng_new(31);
    tg_tensor *a = tg_uniform(src, &rng, TG_F32, SHAPE(2, 300, 200), -1, 1);
    tg_tensor *b = tg_uniform(src, &rng, TG_F32, SHAPE(200, 150), -1, 1);
    tg_tensor *g = tg_uniform(src, &rng, TG_F32, SHAPE(2, 300, 150), -1, 1);
    uint64_t hashes[2][4];
    for (int run = 0; run < 2; run++) {
        tg_set_num_threads(run + 1);
        tg_tape_reset(t);
        tg_tensor *ai = tg_detach(t, a), *bi = tg_detach(t, b);
        tg_requires_grad(ai);
        tg_requires_grad(bi);
        tg_tensor *c = tg_matmul(t, ai, bi);
        hashes[run][0] = tg_tensor_hash(c);
        hashes[run][1] = tg_tensor_hash(tg_matmul_ex(t, bi, tg_reshape(t, ai, SHAPE(600, 200)), true, true));
        assert_int_equal(tg_backward(t, c, &(tg_backward_opts){.grad_output = tg_detach(t, g)}), TG_OK);
        hashes[run][2] = tg_tensor_hash(ai->grad);
        hashes[run][3] = tg_tensor_hash(bi->grad);
    }
    for (int k = 0; k < 4; k++) assert_true(hashes[0][k] == hashes[1][k]);
    tg_set_num_threads(threads_before);
    tg_tape_free(src);
}

/* Edge tiles, several K blocks and rounds, narrow outputs computed N-major:
 * the same bits with 1 and 2 threads (even below the size where products
 * start using threads) for every flag and dtype. */
static void test_edge_shapes_are_bit_identical_with_one_and_two_threads(void **state) {
    tg_tape *t = *state;
    static const int64_t sizes[][3] = {{257, 300, 45}, {2200, 1000, 3}, {431, 77, 530}, {13, 600, 700}, {512, 128, 10}};
    int threads_before = tg_get_num_threads();
    tg_gemm_set_parallel_work(0);
    for (int d = 0; d < 2; d++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            for (int f = 0; f < 4; f++) {
                bool ta = f & 1, tb = f & 2;
                int64_t M = sizes[i][0], K = sizes[i][1], N = sizes[i][2];
                uint64_t hash[2];
                for (int run = 0; run < 2; run++) {
                    tg_set_num_threads(run + 1);
                    tg_tape_reset(t);
                    tg_rng rng = tg_rng_new(7 + i);
                    tg_tensor *a = tg_uniform(t, &rng, dtypes[d], SHAPE(ta ? K : M, ta ? M : K), -1, 1);
                    tg_tensor *b = tg_uniform(t, &rng, dtypes[d], SHAPE(tb ? N : K, tb ? K : N), -1, 1);
                    hash[run] = tg_tensor_hash(tg_matmul_ex(t, a, b, ta, tb));
                }
                if (hash[0] != hash[1]) {
                    print_error("%s [%lld,%lld,%lld] ta %d tb %d differs\n", tg_dtype_name(dtypes[d]), (long long)M,
                                (long long)K, (long long)N, ta, tb);
                    fail();
                }
            }
    tg_gemm_set_parallel_work(-1);
    tg_set_num_threads(threads_before);
}

/* ---- gradients ---- */

typedef struct {
    bool ta, tb;
} flags;
static tg_tensor *call_matmul(tg_tape *t, tg_tensor **in, void *user) {
    const flags *f = user;
    return tg_matmul_ex(t, in[0], in[1], f->ta, f->tb);
}

/* [M,K,N] = [3,4,5], batch 2; stored shapes follow the flags */
static void sample_operands(tg_tape *t, tg_rng *rng, int kind, flags f, tg_tensor **in) {
    int64_t sa[3] = {2, f.ta ? 4 : 3, f.ta ? 3 : 4}, sb[3] = {2, f.tb ? 5 : 4, f.tb ? 4 : 5};
    in[0] = kind == 0 ? tg_uniform(t, rng, TG_F64, 2, sa + 1, -1, 1) : tg_uniform(t, rng, TG_F64, 3, sa, -1, 1);
    in[1] = kind == 1 ? tg_uniform(t, rng, TG_F64, 3, sb, -1, 1) : tg_uniform(t, rng, TG_F64, 2, sb + 1, -1, 1);
}

static void test_gradients_match_central_differences_for_every_flag_and_rank(void **state) {
    tg_tape *t = *state;
    tg_rng rng = tg_rng_new(37);
    for (int kind = 0; kind < 3; kind++) /* 2-D, batched, 3-D @ 2-D */
        for (int i = 0; i < 4; i++) {
            flags f = {i & 1, i & 2};
            tg_tape_reset(t);
            tg_tensor *in[2];
            sample_operands(t, &rng, kind, f, in);
            cd_check(call_matmul, &f, 2, in, 0);
        }
}

static void test_second_derivatives_match_central_differences(void **state) {
    tg_tape *t = *state;
    tg_rng rng = tg_rng_new(41);
    for (int kind = 0; kind < 3; kind++)
        for (int i = 0; i < 4; i++) {
            flags f = {i & 1, i & 2};
            for (int wrt = 0; wrt < 2; wrt++) {
                tg_tape_reset(t);
                tg_tensor *in[2];
                sample_operands(t, &rng, kind, f, in);
                cd_derivative d = {call_matmul, &f, 2, wrt, 0};
                cd_check(cd_first_derivative, &d, 2, in, 0);
            }
        }
}

static void test_gradient_of_one_operand_only(void **state) {
    tg_tape *t = *state;
    /* L = sum(x @ W), x constant: dW[k][n] = sum_m x[m][k] */
    tg_tensor *x = T64(t, SHAPE(2, 3), 1, 2, 3, 4, 5, 6), *w = tg_ones(t, TG_F64, SHAPE(3, 2));
    tg_requires_grad(w);
    tg_tensor *y = tg_matmul(t, x, w);
    assert_int_equal(tg_backward(t, y, &(tg_backward_opts){.grad_output = tg_ones(t, TG_F64, SHAPE(2, 2))}), TG_OK);
    ASSERT_VALUES(w->grad, 0, 5, 5, 7, 7, 9, 9);
    assert_null(x->grad);
}

static void test_shared_matrix_gradient_sums_over_the_batch(void **state) {
    tg_tape *t = *state;
    /* x [2,1,2] @ w [2,1]; dW = sum_b x[b]^T g[b] with g = 1 */
    tg_tensor *x = T64(t, SHAPE(2, 1, 2), 1, 2, 3, 4), *w = T64(t, SHAPE(2, 1), 0.5, -1);
    tg_requires_grad(w);
    tg_tensor *y = tg_matmul(t, x, w);
    assert_shape(y, SHAPE(2, 1, 1));
    ASSERT_VALUES(y, 0, -1.5, -2.5);
    assert_int_equal(tg_backward(t, y, &(tg_backward_opts){.grad_output = tg_ones(t, TG_F64, SHAPE(2, 1, 1))}), TG_OK);
    assert_shape(w->grad, SHAPE(2, 1));
    ASSERT_VALUES(w->grad, 0, 4, 6);
}

/* ---- errors ---- */

static void test_shape_errors_name_the_op_and_shapes(void **state) {
    tg_tape *t = *state;
    const struct {
        int nda, ndb;
        int64_t sa[3], sb[3];
        bool ta, tb;
        const char *mentions;
    } bad[] = {
        {2, 2, {32, 784}, {256, 10}, false, false, "inner dimensions differ: f32[32,784] @ f32[256,10]"},
        {2, 2, {3, 4}, {3, 5}, false, true, "(b transposed)"},
        {2, 2, {3, 4}, {3, 5}, true, true, "(both transposed)"},
        {2, 2, {3, 4}, {5, 2}, true, false, "(a transposed)"},
        {3, 3, {2, 3, 4}, {3, 4, 5}, false, false, "batch sizes differ: f32[2,3,4] @ f32[3,4,5]"},
        {1, 2, {4}, {4, 2}, false, false, "expects 2-D @ 2-D, 3-D @ 3-D or 3-D @ 2-D, got f32[4] @ f32[4,2]"},
        {2, 3, {2, 4}, {2, 4, 2}, false, false, "f32[2,4] @ f32[2,4,2]"},
        {0, 2, {0}, {1, 1}, false, false, "f32[] @ f32[1,1]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tg_tape_reset(t);
        tg_tensor *a = tg_ones(t, TG_F32, bad[i].nda, bad[i].sa), *b = tg_ones(t, TG_F32, bad[i].ndb, bad[i].sb);
        assert_null(tg_matmul_ex(t, a, b, bad[i].ta, bad[i].tb));
        assert_int_equal(tg_tape_status(t), TG_ERR_SHAPE);
        assert_error_mentions(tg_tape_error(t), "tg_matmul");
        assert_error_mentions(tg_tape_error(t), bad[i].mentions);
    }
}

static void test_mixed_dtypes_are_an_error(void **state) {
    tg_tape *t = *state;
    assert_null(tg_matmul(t, tg_ones(t, TG_F32, SHAPE(2, 2)), tg_ones(t, TG_F64, SHAPE(2, 2))));
    assert_int_equal(tg_tape_status(t), TG_ERR_DTYPE);
    assert_error_mentions(tg_tape_error(t), "tg_cast");
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_two_by_three_times_three_by_two_by_hand),
        T(test_two_d_odd_sizes_match_the_naive_product_for_every_flag),
        T(test_two_d_above_the_parallel_threshold_matches_the_naive_product),
        T(test_deep_and_wide_products_cross_the_kernel_blocks),
        T(test_tile_edges_match_the_naive_product_for_every_flag),
        T(test_tall_products_pack_in_several_rounds),
        T(test_narrow_outputs_match_the_naive_product_for_every_flag),
        T(test_empty_dimensions_give_empty_or_zero_products),
        T(test_f32_products_of_depth_1000_are_accurate_to_1e_5),
        T(test_batched_three_d_matches_the_naive_product_for_every_flag),
        T(test_three_d_at_two_d_shares_the_matrix_for_every_flag),
        T(test_results_are_bit_identical_with_one_and_two_threads),
        T(test_edge_shapes_are_bit_identical_with_one_and_two_threads),
        T(test_gradients_match_central_differences_for_every_flag_and_rank),
        T(test_second_derivatives_match_central_differences),
        T(test_gradient_of_one_operand_only),
        T(test_shared_matrix_gradient_sums_over_the_batch),
        T(test_shape_errors_name_the_op_and_shapes),
        T(test_mixed_dtypes_are_an_error),
#undef T
    };
    return cmocka_run_group_tests_name("matmul", tests, NULL, NULL);
}
