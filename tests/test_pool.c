/* max_pool2d, avg_pool2d, global_avg_pool2d, flatten: values and gradients
 * against PyTorch 1.13 (tests/conv_reference.h; its inputs have ties, which
 * go to the first maximum), NaN and -inf as PyTorch treats them, the threaded
 * path, errors and descriptions. (Derivatives against central differences:
 * the registry entries.) */
#include "testing.h"

#include "conv_reference.h"

typedef tg_tensor *(*pool_fn)(tg_tape *t, tg_tensor *x, tg_pool2d_opts opts);

/* y = pool(x), then the gradient of sum(y * r), against torch, in f64 and f32 */
static void check_pool(pool_fn pool, int64_t n, int64_t c, int64_t h, int64_t w, tg_pool2d_opts opts,
                       const int64_t *y_shape, const double *y_expected, const double *dx_expected) {
    for (int dt = 0; dt < 2; dt++) {
        tg_dtype dtype = dt ? TG_F64 : TG_F32;
        double rtol = dt ? 1e-10 : 1e-5;
        tg_tensor *x = reference_pattern(tape, dtype, SHAPE(n, c, h, w), 7, 13, 4.0);
        tg_requires_grad(x);
        tg_tensor *y = pool(tape, x, opts);
        assert_shape(y, 4, y_shape);
        assert_relative(y, y_expected, y->numel, rtol, "y");
        tg_tensor *r = reference_pattern(tape, dtype, y->ndim, y->shape, 11, 9, 4.0);
        assert_int_equal(tg_backward(tape, y, &(tg_backward_opts){.grad_output = r}), TG_OK);
        assert_relative(x->grad, dx_expected, x->numel, rtol, "dx");
        tg_tape_reset(tape);
    }
}

static void test_max_pool2d_2x2_matches_torch_with_ties_on_odd_sizes(void **state) {
    (void)state;
    check_pool(tg_max_pool2d, 2, 2, 5, 4, (tg_pool2d_opts){.kernel = {2, 2}}, (const int64_t[]){2, 2, 2, 2},
               max_pool_2x2_y, max_pool_2x2_dx);
}

static void test_max_pool2d_with_stride_and_padding_matches_torch(void **state) {
    (void)state;
    check_pool(tg_max_pool2d, 1, 3, 7, 6, (tg_pool2d_opts){.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}},
               (const int64_t[]){1, 3, 4, 3}, max_pool_3x3_stride2_pad1_y, max_pool_3x3_stride2_pad1_dx);
}

static void test_overlapping_max_pool2d_accumulates_gradients_like_torch(void **state) {
    (void)state;
    check_pool(tg_max_pool2d, 1, 2, 5, 5, (tg_pool2d_opts){.kernel = {3, 2}, .stride = {1, 1}, .padding = {1, 0}},
               (const int64_t[]){1, 2, 5, 4}, max_pool_overlapping_y, max_pool_overlapping_dx);
}

static void test_avg_pool2d_2x2_matches_torch_on_odd_sizes(void **state) {
    (void)state;
    check_pool(tg_avg_pool2d, 2, 2, 5, 4, (tg_pool2d_opts){.kernel = {2, 2}}, (const int64_t[]){2, 2, 2, 2},
               avg_pool_2x2_y, avg_pool_2x2_dx);
}

static void test_avg_pool2d_counts_padding_in_the_divisor_like_torch(void **state) {
    (void)state;
    check_pool(tg_avg_pool2d, 1, 3, 7, 6, (tg_pool2d_opts){.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}},
               (const int64_t[]){1, 3, 4, 3}, avg_pool_3x3_stride2_pad1_y, avg_pool_3x3_stride2_pad1_dx);
}

static void test_overlapping_avg_pool2d_matches_torch(void **state) {
    (void)state;
    check_pool(tg_avg_pool2d, 1, 2, 5, 5, (tg_pool2d_opts){.kernel = {3, 2}, .stride = {1, 1}, .padding = {1, 0}},
               (const int64_t[]){1, 2, 5, 4}, avg_pool_overlapping_y, avg_pool_overlapping_dx);
}

/* torch: [[1, nan, 3, nan], [5, 5, 2, 1]] pooled 2x2 gives [nan, nan], the
 * gradient going to each window's last NaN; an all -inf window passes its
 * gradient to its first element */
static void test_max_pool2d_propagates_nan_and_handles_minus_infinity_like_torch(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(1, 1, 2, 4), 1, NAN, 3, NAN, 5, 5, 2, 1);
    tg_requires_grad(x);
    tg_tensor *y = tg_max_pool2d(tape, x, (tg_pool2d_opts){.kernel = {2, 2}});
    assert_true(isnan(tg_get(y, 0)) && isnan(tg_get(y, 1)));
    assert_int_equal(tg_backward(tape, tg_sum(tape, y, NULL, 0, false), NULL), TG_OK);
    ASSERT_VALUES(x->grad, 0, 0, 1, 0, 1, 0, 0, 0, 0);

    tg_tensor *low = tg_full(tape, TG_F32, SHAPE(1, 1, 2, 2), -INFINITY);
    tg_requires_grad(low);
    tg_tensor *z = tg_max_pool2d(tape, low, (tg_pool2d_opts){.kernel = {2, 2}, .stride = {2, 2}, .padding = {1, 1}});
    assert_shape(z, SHAPE(1, 1, 2, 2));
    for (int i = 0; i < 4; i++) assert_true(isinf(tg_get(z, i)) && tg_get(z, i) < 0);
    assert_int_equal(tg_backward(tape, tg_sum(tape, z, NULL, 0, false), NULL), TG_OK);
    ASSERT_VALUES(low->grad, 0, 1, 1, 1, 1);
}

static void test_global_avg_pool2d_and_flatten_end_a_convolutional_stack(void **state) {
    (void)state;
    tg_tensor *x = iota(TG_F64, SHAPE(2, 3, 2, 2));
    tg_tensor *g = tg_global_avg_pool2d(tape, x);
    assert_shape(g, SHAPE(2, 3));
    ASSERT_VALUES(g, 1e-15, 1.5, 5.5, 9.5, 13.5, 17.5, 21.5);
    tg_tensor *f = tg_flatten(tape, x);
    assert_shape(f, SHAPE(2, 12));
    assert_ptr_equal(f->data, x->data); /* a reshape: no copy */
    assert_shape(tg_flatten(tape, tg_zeros(tape, TG_F32, SHAPE(5, 7))), SHAPE(5, 7));
}

/* 4 x 32 planes of 28 x 28: split over threads; the same bits for 1 and 2 threads */
static void test_pooling_split_over_threads_gives_the_same_bits_for_any_thread_count(void **state) {
    (void)state;
    int threads = tg_get_num_threads();
    uint64_t hashes[2][4];
    for (int run = 0; run < 2; run++) {
        tg_set_num_threads(run + 1);
        tg_rng rng = tg_rng_new(3);
        tg_tensor *x = tg_uniform(tape, &rng, TG_F32, SHAPE(4, 32, 28, 28), -1, 1);
        tg_requires_grad(x);
        tg_pool2d_opts o = {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}};
        tg_tensor *m = tg_max_pool2d(tape, x, o), *a = tg_avg_pool2d(tape, x, o);
        tg_tensor *loss = tg_add(tape, tg_sum(tape, tg_mul(tape, m, m), NULL, 0, false), tg_sum(tape, a, NULL, 0, false));
        assert_int_equal(tg_backward(tape, loss, NULL), TG_OK);
        hashes[run][0] = tg_tensor_hash(m);
        hashes[run][1] = tg_tensor_hash(a);
        hashes[run][2] = tg_tensor_hash(x->grad);
        hashes[run][3] = m->numel;
        tg_tape_reset(tape);
    }
    for (int k = 0; k < 4; k++) assert_true(hashes[0][k] == hashes[1][k]);
    tg_set_num_threads(threads);
}

/* the same bits: values equal (NaN to NaN), and zeros of the same sign */
static void assert_same_value(double got, double want) {
    if (isnan(want)) {
        assert_true(isnan(got));
        return;
    }
    assert_true(got == want);
    assert_int_equal(signbit(got) != 0, signbit(want) != 0);
}

/* The 2x2 windows with stride 2 run their own kernels (whole output rows a
 * block at a time, the backward writing each element once): y and dx must
 * be the window rule's bits, taps in row-major order with a strict > and a
 * NaN taking over, dx = 0 + g at the chosen tap, 0 elsewhere (also -0 + ...).
 * Values in {-2..2} tie everywhere; NaN and -inf sprinkled in; short rows,
 * odd sizes, rows longer than a block; f32 and f64, 1 and 2 threads, with
 * and without a gradient. */
static void test_2x2_windows_give_the_bits_of_the_window_rule(void **state) {
    (void)state;
    const int64_t shapes[][4] = {{2, 3, 5, 4}, {1, 2, 6, 7}, {2, 4, 28, 28}, {3, 5, 14, 14},
                                 {1, 1, 3, 301}, {2, 2, 9, 33}, {1, 1, 2, 2}};
    int threads = tg_get_num_threads();
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int dt = 0; dt < 2; dt++)
            for (int th = 1; th <= 2; th++) {
                tg_set_num_threads(th);
                tg_dtype dtype = dt ? TG_F64 : TG_F32;
                const int64_t *sh = shapes[s];
                int64_t H = sh[2], W = sh[3], OH = H / 2, OW = W / 2, planes = sh[0] * sh[1];
                tg_rng rng = tg_rng_new(17 + s);
                tg_tensor *x = tg_tensor_empty(tape, dtype, 4, sh), *g = NULL;
                for (int64_t i = 0; i < x->numel; i++) {
                    uint64_t r = tg_rng_below(&rng, 100);
                    tg_set(x, i, r < 3 ? NAN : r < 6 ? -INFINITY : (double)(int64_t)(r % 5) - 2.0);
                }
                tg_requires_grad(x);
                tg_tensor *y = tg_max_pool2d(tape, x, (tg_pool2d_opts){.kernel = {2, 2}});
                assert_shape(y, SHAPE(sh[0], sh[1], OH, OW));
                g = tg_tensor_empty(tape, dtype, 4, y->shape);
                for (int64_t k = 0; k < g->numel; k++) tg_set(g, k, k % 7 == 0 ? -0.0 : (double)(k % 11) - 5.0);
                assert_int_equal(tg_backward(tape, y, &(tg_backward_opts){.grad_output = g}), TG_OK);
                tg_tape_set_grad_enabled(tape, false);
                tg_tensor *y_alone = tg_max_pool2d(tape, x, (tg_pool2d_opts){.kernel = {2, 2}});
                tg_tape_set_grad_enabled(tape, true);
                for (int64_t p = 0; p < planes; p++)
                    for (int64_t i = 0; i < OH; i++)
                        for (int64_t j = 0; j < OW; j++) {
                            int64_t k = (p * OH + i) * OW + j, where = 2 * i * W + 2 * j;
                            double best = -INFINITY;
                            for (int64_t tap = 0; tap < 4; tap++) {
                                int64_t at = (2 * i + tap / 2) * W + 2 * j + tap % 2;
                                double v = tg_get(x, p * H * W + at);
                                if (v > best || isnan(v)) best = v, where = at;
                            }
                            assert_same_value(tg_get(y, k), best);
                            assert_same_value(tg_get(y_alone, k), best);
                            for (int64_t tap = 0; tap < 4; tap++) {
                                int64_t at = (2 * i + tap / 2) * W + 2 * j + tap % 2;
                                assert_same_value(tg_get(x->grad, p * H * W + at), at == where ? 0.0 + tg_get(g, k) : 0.0);
                            }
                        }
                for (int64_t p = 0; p < planes; p++) /* a last odd row or column: no window */
                    for (int64_t h = 0; h < H; h++)
                        for (int64_t w = 0; w < W; w++)
                            if (h >= 2 * OH || w >= 2 * OW) assert_same_value(tg_get(x->grad, (p * H + h) * W + w), 0.0);
                tg_tape_reset(tape);
            }
    tg_set_num_threads(threads);
}

static void test_max_pool2d_saves_no_argmax_when_no_gradient_is_needed(void **state) {
    (void)state;
    tg_tensor *x = tg_zeros(tape, TG_F32, SHAPE(8, 16, 32, 32));
    size_t before = tg_tape_arena_used(tape);
    tg_tensor *y = tg_max_pool2d(tape, x, (tg_pool2d_opts){.kernel = {2, 2}});
    assert_non_null(y);
    /* the output and its node only, not 4 more bytes per output element */
    assert_true(tg_tape_arena_used(tape) - before < sizeof(float) * (size_t)y->numel + 4096);
}

static void test_pooling_bad_arguments_name_the_op_and_the_shapes(void **state) {
    (void)state;
    tg_tensor *x = tg_zeros(tape, TG_F32, SHAPE(2, 3, 5, 4));
    assert_null(tg_max_pool2d(tape, tg_zeros(tape, TG_F32, SHAPE(3, 5, 4)), (tg_pool2d_opts){.kernel = {2, 2}}));
    assert_error("tg_max_pool2d", "x f32[3,5,4] must be 4-D");
    assert_null(tg_max_pool2d(tape, x, (tg_pool2d_opts){.kernel = {2}}));
    assert_error("tg_max_pool2d", "kernel {2, 0} is not valid: give both (height, width)");
    assert_null(tg_avg_pool2d(tape, x, (tg_pool2d_opts){.kernel = {2, 2}, .stride = {-1, 1}}));
    assert_error("tg_avg_pool2d", "stride {-1, 1} is not valid");
    assert_null(tg_avg_pool2d(tape, x, (tg_pool2d_opts){.kernel = {2, 2}, .padding = {2, 0}}));
    assert_error("tg_avg_pool2d", "padding {2, 0} is not valid: each must be >= 0 and at most half the kernel");
    assert_null(tg_max_pool2d(tape, x, (tg_pool2d_opts){.kernel = {3, 7}, .padding = {1, 1}}));
    assert_error("tg_max_pool2d", "the kernel 3x7 is larger than the padded input 7x6 (x f32[2,3,5,4])");
    assert_null(tg_global_avg_pool2d(tape, tg_zeros(tape, TG_F64, SHAPE(2, 3))));
    assert_error("tg_global_avg_pool2d", "f64[2,3] must be 4-D");
    assert_null(tg_flatten(tape, tg_zeros(tape, TG_F64, SHAPE(4))));
    assert_error("tg_flatten", "f64[4] needs a batch axis");
    assert_null(tg_max_pool2d(tape, NULL, (tg_pool2d_opts){.kernel = {2, 2}}));
    assert_error("tg_max_pool2d", "input 0 is NULL");
}

/* Windows near INT64_MAX: errors, never a wrapped size or divisor. */
static void test_huge_pooling_windows_are_errors_not_overflows(void **state) {
    (void)state;
    tg_tensor *x = tg_zeros(tape, TG_F32, SHAPE(1, 1, 1, 1));
    assert_null(tg_avg_pool2d(tape, x, (tg_pool2d_opts){.kernel = {INT64_MAX, 1}}));
    assert_error("tg_avg_pool2d", "kernel {9223372036854775807, 1} is not valid");
    assert_null(tg_max_pool2d(tape, x, (tg_pool2d_opts){.kernel = {2, 2}, .stride = {INT64_MAX, 1}}));
    assert_error("tg_max_pool2d", "stride {9223372036854775807, 1} is not valid");
    /* a 2^40 x 2^40 window padded by half of it fits the 1x1 input, but
     * its 2^80 elements (the average's divisor) do not fit in int64 */
    int64_t k = (int64_t)1 << 40;
    assert_null(tg_avg_pool2d(tape, x, (tg_pool2d_opts){.kernel = {k, k}, .padding = {k / 2, k / 2}}));
    assert_error("tg_avg_pool2d", "its window must have at most 2^60 elements");
    /* 2^20 x 2^20 is allowed: the one window's average counts the padding */
    tg_tensor *ones = tg_ones(tape, TG_F64, SHAPE(1, 1, 1, 1));
    int64_t m = (int64_t)1 << 20;
    tg_tensor *y = tg_avg_pool2d(tape, ones, (tg_pool2d_opts){.kernel = {m, m}, .padding = {m / 2, m / 2}});
    assert_shape(y, SHAPE(1, 1, 1, 1));
    assert_true(tg_get(y, 0) == 1.0 / ((double)m * (double)m));
}

/* Tape epochs: pooling and dropout refuse a tensor from before a reset. */
static void test_pooling_and_dropout_refuse_a_tensor_from_before_a_reset(void **state) {
    (void)state;
    tg_tensor *old = tg_zeros(tape, TG_F32, SHAPE(1, 2, 4, 4));
    tg_tape_reset(tape);
    assert_null(tg_max_pool2d(tape, old, (tg_pool2d_opts){.kernel = {2, 2}}));
    assert_error("tg_max_pool2d", "input 0 was made before the last tg_tape_reset");
    assert_null(tg_avg_pool2d(tape, old, (tg_pool2d_opts){.kernel = {2, 2}}));
    assert_error("tg_avg_pool2d", "input 0 was made before the last tg_tape_reset");
    assert_null(tg_global_avg_pool2d(tape, old));
    assert_error("tg_global_avg_pool2d", "input 0 was made before the last tg_tape_reset");
    assert_null(tg_flatten(tape, old));
    assert_error("tg_flatten", "input 0 was made before the last tg_tape_reset");
    tg_rng rng = tg_rng_new(1);
    assert_null(tg_dropout(tape, old, 0.5, true, &rng));
    assert_error("tg_dropout", "input 0 was made before the last tg_tape_reset");
}

static void test_pool_nodes_describe_kernel_stride_and_padding(void **state) {
    (void)state;
    char text[64];
    tg_tensor *x = tg_zeros(tape, TG_F32, SHAPE(1, 1, 6, 6));
    tg_tensor *y = tg_max_pool2d(tape, x, (tg_pool2d_opts){.kernel = {2, 2}});
    y->node->op->describe(y->node, text, sizeof text);
    assert_string_equal(text, "kernel=2x2 stride=2 pad=0");
    y = tg_avg_pool2d(tape, x, (tg_pool2d_opts){.kernel = {3, 2}, .stride = {1, 2}, .padding = {1, 0}});
    y->node->op->describe(y->node, text, sizeof text);
    assert_string_equal(text, "kernel=3x2 stride=1x2 pad=1x0");
}

int main(void) {
#define TEST(name) cmocka_unit_test_setup_teardown(name, tape_setup, tape_teardown)
    const struct CMUnitTest tests[] = {
        TEST(test_max_pool2d_2x2_matches_torch_with_ties_on_odd_sizes),
        TEST(test_max_pool2d_with_stride_and_padding_matches_torch),
        TEST(test_overlapping_max_pool2d_accumulates_gradients_like_torch),
        TEST(test_avg_pool2d_2x2_matches_torch_on_odd_sizes),
        TEST(test_avg_pool2d_counts_padding_in_the_divisor_like_torch),
        TEST(test_overlapping_avg_pool2d_matches_torch),
        TEST(test_max_pool2d_propagates_nan_and_handles_minus_infinity_like_torch),
        TEST(test_global_avg_pool2d_and_flatten_end_a_convolutional_stack),
        TEST(test_pooling_split_over_threads_gives_the_same_bits_for_any_thread_count),
        TEST(test_2x2_windows_give_the_bits_of_the_window_rule),
        TEST(test_max_pool2d_saves_no_argmax_when_no_gradient_is_needed),
        TEST(test_pooling_bad_arguments_name_the_op_and_the_shapes),
        TEST(test_huge_pooling_windows_are_errors_not_overflows),
        TEST(test_pooling_and_dropout_refuse_a_tensor_from_before_a_reset),
        TEST(test_pool_nodes_describe_kernel_stride_and_padding),
    };
#undef TEST
    return cmocka_run_group_tests(tests, NULL, NULL);
}
