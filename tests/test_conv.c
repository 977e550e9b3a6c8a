/* conv2d, conv_transpose2d and conv2d_weight_grad: forward values and
 * gradients against PyTorch 1.13 (tests/conv_reference.h, from
 * tools/conv_reference.py) on odd sizes, stride, padding, dilation, groups,
 * depthwise, batch 1 and 1x1 kernels, in f64 and f32; the threaded batch
 * split against a direct loop and across thread counts; no allocation in a
 * steady loop; errors; descriptions. (First and second derivatives against
 * central differences: the registry entries, tests/test_registry.c.) */
#include "testing.h"

#include "conv_reference.h"

/* the inputs of tools/conv_reference.py: x, w, b and r (the gradient of y) */
static tg_tensor *x_of(tg_dtype dt, const int64_t *s) { return reference_pattern(tape, dt, 4, s, 7, 13, 4.0); }
static tg_tensor *w_of(tg_dtype dt, const int64_t *s) { return reference_pattern(tape, dt, 4, s, 5, 11, 8.0); }
static tg_tensor *b_of(tg_dtype dt, int64_t n) { return reference_pattern(tape, dt, 1, &n, 3, 7, 2.0); }
static tg_tensor *r_of(tg_dtype dt, const tg_tensor *y) {
    return reference_pattern(tape, dt, y->ndim, y->shape, 11, 9, 4.0);
}

static int64_t numel4(const int64_t *shape) { return shape[0] * shape[1] * shape[2] * shape[3]; }

/* y = conv(x, w, b) (or the transposed one), then the gradients of sum(y * r), against torch */
static void check_reference(const conv_reference *ref, bool transposed, tg_dtype dt, double rtol) {
    tg_tensor *x = x_of(dt, ref->x), *w = w_of(dt, ref->w), *b = NULL;
    int64_t groups = ref->opts.groups ? ref->opts.groups : 1;
    if (ref->bias) b = b_of(dt, transposed ? ref->w[1] * groups : ref->w[0]);
    tg_requires_grad(x);
    tg_requires_grad(w);
    if (b) tg_requires_grad(b);
    tg_tensor *y = transposed ? tg_conv_transpose2d(tape, x, w, b, ref->opts) : tg_conv2d(tape, x, w, b, ref->opts);
    if (!y) print_error("%s: %s\n", ref->name, tg_tape_error(tape));
    assert_shape(y, 4, ref->y_shape);
    assert_relative(y, ref->y, numel4(ref->y_shape), rtol, "y");
    assert_int_equal(tg_backward(tape, y, &(tg_backward_opts){.grad_output = r_of(dt, y)}), TG_OK);
    assert_relative(x->grad, ref->dx, numel4(ref->x), rtol, "dx");
    assert_relative(w->grad, ref->dw, numel4(ref->w), rtol, "dw");
    if (b) assert_relative(b->grad, ref->db, b->numel, rtol, "db");
}

static void check_both_dtypes(const conv_reference *ref, bool transposed) {
    check_reference(ref, transposed, TG_F64, 1e-10);
    tg_tape_reset(tape);
    check_reference(ref, transposed, TG_F32, 1e-5);
}

/* ---- against torch ---- */
static void test_conv2d_matches_torch_on_odd_sizes_with_padding_and_bias(void **state) {
    (void)state;
    check_both_dtypes(&conv_odd_padded, false);
}

static void test_conv2d_matches_torch_with_unequal_strides_and_paddings_on_a_batch_of_one(void **state) {
    (void)state;
    check_both_dtypes(&conv_strided_batch1, false);
}

static void test_conv2d_matches_torch_with_dilation(void **state) {
    (void)state;
    check_both_dtypes(&conv_dilated, false);
}

static void test_conv2d_matches_torch_with_groups(void **state) {
    (void)state;
    check_both_dtypes(&conv_grouped, false);
}

static void test_depthwise_conv2d_matches_torch(void **state) {
    (void)state;
    check_both_dtypes(&conv_depthwise, false);
}

static void test_conv2d_matches_torch_with_1x1_kernels(void **state) {
    (void)state;
    check_both_dtypes(&conv_pointwise, false); /* x itself is the im2col matrix */
    tg_tape_reset(tape);
    check_both_dtypes(&conv_pointwise_strided, false);
}

/* 8 and more channels per group, 3x3, stride 1: Winograd's F(2x2, 3x3) */
static void test_winograd_convolutions_match_torch(void **state) {
    (void)state;
    check_both_dtypes(&winograd_padded, false);
    tg_tape_reset(tape);
    check_both_dtypes(&winograd_grouped_unpadded_odd, false);
    tg_tape_reset(tape);
    check_both_dtypes(&winograd_padding_2x0, false);
    tg_tape_reset(tape);
    check_both_dtypes(&winograd_transpose, true);
}

static void test_conv_transpose2d_matches_torch_with_stride_and_output_padding(void **state) {
    (void)state;
    check_both_dtypes(&transpose_strided, true);
}

static void test_conv_transpose2d_matches_torch_with_groups_and_dilation(void **state) {
    (void)state;
    check_both_dtypes(&transpose_grouped_dilated, true);
}

static void test_conv2d_weight_grad_matches_torch(void **state) {
    (void)state;
    for (int dt = 0; dt < 2; dt++) {
        tg_dtype dtype = dt ? TG_F64 : TG_F32;
        tg_tensor *x = x_of(dtype, (const int64_t[]){2, 4, 5, 5});
        tg_tensor *r = reference_pattern(tape, dtype, SHAPE(2, 6, 3, 3), 11, 9, 4.0);
        tg_conv2d_opts o = {.stride = {2, 2}, .padding = {1, 1}, .groups = 2};
        tg_tensor *dw = tg_conv2d_weight_grad(tape, x, r, 3, 3, o);
        assert_shape(dw, SHAPE(6, 2, 3, 3));
        assert_relative(dw, weight_grad_grouped_strided, 108, dt ? 1e-10 : 1e-5, "dw");
    }
}

/* ---- the threaded path: a batch large enough to split over threads ---- */

/* y[n,o,i,j] = b[o] + sum w[o,c,p,q] x[n, g C/G + c, i s0 - pad0 + p d0, j s1 - pad1 + q d1], from the definition */
static void direct_conv(const tg_tensor *x, const tg_tensor *w, const tg_tensor *b, const tg_conv2d_opts *o,
                        tg_tensor *y) {
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t O = w->shape[0], Cg = w->shape[1], K0 = w->shape[2], K1 = w->shape[3];
    int64_t OH = y->shape[2], OW = y->shape[3], Og = O / o->groups;
    for (int64_t n = 0; n < N; n++)
        for (int64_t oc = 0; oc < O; oc++)
            for (int64_t i = 0; i < OH; i++)
                for (int64_t j = 0; j < OW; j++) {
                    double sum = tg_get(b, oc);
                    for (int64_t c = 0; c < Cg; c++)
                        for (int64_t p = 0; p < K0; p++)
                            for (int64_t q = 0; q < K1; q++) {
                                int64_t h = i * o->stride[0] - o->padding[0] + p * o->dilation[0];
                                int64_t v = j * o->stride[1] - o->padding[1] + q * o->dilation[1];
                                if (h < 0 || h >= H || v < 0 || v >= W) continue;
                                int64_t channel = (oc / Og) * Cg + c;
                                sum += tg_get(w, ((oc * Cg + c) * K0 + p) * K1 + q) *
                                       tg_get(x, ((n * C + channel) * H + h) * W + v);
                            }
                    tg_set(y, ((n * O + oc) * OH + i) * OW + j, sum);
                }
}

/* conv, then dx and dw; returns the XXH3 hashes of y, dx, dw */
static void conv_step(tg_dtype dt, const tg_conv2d_opts *o, uint64_t hashes[3], tg_tensor **y_out) {
    tg_rng rng = tg_rng_new(5);
    int64_t groups = o->groups ? o->groups : 1;
    tg_tensor *x = tg_uniform(tape, &rng, dt, SHAPE(16, 8, 20, 19), -1, 1);
    tg_tensor *w = tg_uniform(tape, &rng, dt, SHAPE(16, 8 / groups, 3, 3), -1, 1);
    tg_tensor *b = tg_uniform(tape, &rng, dt, SHAPE(16), -1, 1);
    tg_requires_grad(x);
    tg_requires_grad(w);
    tg_tensor *y = tg_conv2d(tape, x, w, b, *o);
    assert_non_null(y);
    tg_tensor *r = tg_uniform(tape, &rng, dt, y->ndim, y->shape, -1, 1);
    assert_int_equal(tg_backward(tape, y, &(tg_backward_opts){.grad_output = r}), TG_OK);
    hashes[0] = tg_tensor_hash(y);
    hashes[1] = tg_tensor_hash(x->grad);
    hashes[2] = tg_tensor_hash(w->grad);
    if (y_out) *y_out = y;
}

static void test_a_large_batch_split_over_threads_matches_the_definition_and_any_thread_count(void **state) {
    (void)state;
    int threads = tg_get_num_threads();
    /* 16 x 16 x 36 x 190 = 1.75M multiply-adds: split over threads */
    tg_conv2d_opts o = {.stride = {2, 1}, .padding = {1, 2}, .dilation = {1, 2}, .groups = 2};
    for (int dt = 0; dt < 2; dt++) {
        tg_dtype dtype = dt ? TG_F64 : TG_F32;
        uint64_t one[3], two[3], three[3];
        tg_tensor *y;
        tg_set_num_threads(2);
        conv_step(dtype, &o, two, &y);
        /* the definition, in f64 on the same inputs */
        tg_tensor *x = tg_cast(tape, y->node->inputs[0], TG_F64), *w = tg_cast(tape, y->node->inputs[1], TG_F64);
        tg_tensor *b = tg_cast(tape, y->node->inputs[2], TG_F64);
        tg_tensor *expected = tg_tensor_empty(tape, TG_F64, y->ndim, y->shape);
        direct_conv(x, w, b, &o, expected);
        for (int64_t i = 0; i < y->numel; i++)
            assert_true(fabs(tg_get(y, i) - tg_get(expected, i)) < (dt ? 1e-12 : 1e-5));
        tg_tape_reset(tape);
        tg_set_num_threads(1);
        conv_step(dtype, &o, one, NULL);
        tg_tape_reset(tape);
        tg_set_num_threads(3);
        conv_step(dtype, &o, three, NULL);
        tg_tape_reset(tape);
        for (int k = 0; k < 3; k++) {
            assert_true(one[k] == two[k]);
            assert_true(one[k] == three[k]);
        }
    }
    tg_set_num_threads(threads);
}

/* Winograd (8 channels in and out) on images whose tile rows take several
 * blocks of 8 tiles (the transforms' vector steps, their even and odd
 * columns split and merged by shuffles): y, dx and dw of sum(y r) against
 * the definition, in f64 */
static void test_winograd_on_wide_images_matches_the_definition(void **state) {
    (void)state;
    const int64_t N = 2, C = 8, O = 8, H = 9, W = 37; /* 19 tiles a row at padding 1: 3 blocks */
    for (int pad = 0; pad <= 2; pad++)
        for (int dt = 0; dt < 2; dt++) {
            tg_dtype dtype = dt ? TG_F64 : TG_F32;
            double tol = dt ? 1e-12 : 2e-5;
            tg_rng rng = tg_rng_new(11 + pad);
            tg_tensor *x = tg_uniform(tape, &rng, dtype, SHAPE(N, C, H, W), -1, 1);
            tg_tensor *w = tg_uniform(tape, &rng, dtype, SHAPE(O, C, 3, 3), -1, 1);
            tg_requires_grad(x);
            tg_requires_grad(w);
            tg_conv2d_opts o = {.stride = {1, 1}, .padding = {pad, pad}, .dilation = {1, 1}, .groups = 1};
            tg_tensor *y = tg_conv2d(tape, x, w, NULL, o);
            assert_non_null(y);
            int64_t OH = y->shape[2], OW = y->shape[3];
            tg_tensor *r = tg_uniform(tape, &rng, dtype, y->ndim, y->shape, -1, 1);
            assert_int_equal(tg_backward(tape, y, &(tg_backward_opts){.grad_output = r}), TG_OK);
            tg_tensor *expected = tg_tensor_empty(tape, TG_F64, y->ndim, y->shape);
            direct_conv(tg_cast(tape, x, TG_F64), tg_cast(tape, w, TG_F64), tg_zeros(tape, TG_F64, SHAPE(O)), &o,
                        expected);
            for (int64_t i = 0; i < y->numel; i++) assert_true(fabs(tg_get(y, i) - tg_get(expected, i)) < tol * 8);
            /* dx[n][c][h][v] and dw[o][c][p][q]: sums of r[n][o][i][j] over the taps that read them */
            tg_tensor *dx = tg_zeros(tape, TG_F64, SHAPE(N, C, H, W)), *dw = tg_zeros(tape, TG_F64, SHAPE(O, C, 3, 3));
            for (int64_t n = 0; n < N; n++)
                for (int64_t oc = 0; oc < O; oc++)
                    for (int64_t i = 0; i < OH; i++)
                        for (int64_t j = 0; j < OW; j++) {
                            double g = tg_get(r, ((n * O + oc) * OH + i) * OW + j);
                            for (int64_t c = 0; c < C; c++)
                                for (int64_t p = 0; p < 3; p++)
                                    for (int64_t q = 0; q < 3; q++) {
                                        int64_t h = i - pad + p, v = j - pad + q;
                                        if (h < 0 || h >= H || v < 0 || v >= W) continue;
                                        int64_t at = ((n * C + c) * H + h) * W + v;
                                        int64_t tap = ((oc * C + c) * 3 + p) * 3 + q;
                                        tg_set(dx, at, tg_get(dx, at) + g * tg_get(w, tap));
                                        tg_set(dw, tap, tg_get(dw, tap) + g * tg_get(x, at));
                                    }
                        }
            for (int64_t i = 0; i < dx->numel; i++) assert_true(fabs(tg_get(x->grad, i) - tg_get(dx, i)) < tol * 8);
            for (int64_t i = 0; i < dw->numel; i++) assert_true(fabs(tg_get(w->grad, i) - tg_get(dw, i)) < tol * 400);
            tg_tape_reset(tape);
        }
}

static void test_a_steady_convolution_loop_allocates_nothing_after_the_first_step(void **state) {
    (void)state;
    tg_conv2d_opts o = {.padding = {1, 1}};
    uint64_t after_first = 0;
    for (int step = 0; step < 4; step++) {
        uint64_t hashes[3];
        conv_step(TG_F32, &o, hashes, NULL);
        tg_tape_reset(tape);
        if (step == 0) after_first = tg_tape_system_allocations(tape);
    }
    assert_int_equal(tg_tape_system_allocations(tape), after_first);
}

/* ---- errors ---- */
static void test_conv2d_bad_arguments_name_the_op_and_the_shapes(void **state) {
    (void)state;
    tg_tensor *x = tg_zeros(tape, TG_F32, SHAPE(2, 4, 5, 5)), *w = tg_zeros(tape, TG_F32, SHAPE(6, 2, 3, 3));
    tg_conv2d_opts two_groups = {.groups = 2};
    assert_non_null(tg_conv2d(tape, x, w, NULL, two_groups));

    assert_null(tg_conv2d(tape, tg_zeros(tape, TG_F32, SHAPE(4, 5, 5)), w, NULL, two_groups));
    assert_error("tg_conv2d", "f32[4,5,5]");
    assert_null(tg_conv2d(tape, x, w, NULL, (tg_conv2d_opts){0}));
    assert_error("tg_conv2d", "w takes 2 input channels per group, x has 4 channels in 1 groups");
    assert_null(tg_conv2d(tape, x, w, NULL, (tg_conv2d_opts){.groups = 4}));
    assert_error("tg_conv2d", "4 input and 6 output channels do not split into 4 groups");
    assert_null(tg_conv2d(tape, x, w, NULL, (tg_conv2d_opts){.groups = 2, .stride = {2}}));
    assert_error("tg_conv2d", "stride {2, 0} is not valid");
    assert_null(tg_conv2d(tape, x, w, NULL, (tg_conv2d_opts){.groups = 2, .dilation = {-1, 1}}));
    assert_error("tg_conv2d", "dilation {-1, 1}");
    assert_null(tg_conv2d(tape, x, w, NULL, (tg_conv2d_opts){.groups = 2, .padding = {0, -1}}));
    assert_error("tg_conv2d", "padding {0, -1} is not valid: each must be >= 0");
    assert_null(tg_conv2d(tape, x, w, NULL, (tg_conv2d_opts){.groups = -2}));
    assert_error("tg_conv2d", "groups -2");
    assert_null(tg_conv2d(tape, x, w, NULL, (tg_conv2d_opts){.groups = 2, .output_padding = {1, 0}}));
    assert_error("tg_conv2d", "output_padding {1, 0} is not valid");
    /* a 3x3 kernel at dilation 3 spans 7 > 5 */
    assert_null(tg_conv2d(tape, x, w, NULL, (tg_conv2d_opts){.groups = 2, .dilation = {3, 3}}));
    assert_error("tg_conv2d", "is larger than the padded input 5x5 along the height (x f32[2,4,5,5], w f32[6,2,3,3])");
    assert_null(tg_conv2d(tape, x, w, tg_zeros(tape, TG_F32, SHAPE(4)), two_groups));
    assert_error("tg_conv2d", "bias f32[4] must be [6]");
    assert_null(tg_conv2d(tape, x, tg_zeros(tape, TG_F64, SHAPE(6, 2, 3, 3)), NULL, two_groups));
    assert_error("tg_conv2d", "dtypes differ");
    assert_null(tg_conv2d(tape, NULL, w, NULL, two_groups));
    assert_error("tg_conv2d", "input 0 is NULL");
}

static void test_conv_transpose2d_and_weight_grad_bad_arguments_name_the_op_and_the_shapes(void **state) {
    (void)state;
    tg_tensor *x = tg_zeros(tape, TG_F64, SHAPE(1, 4, 3, 3)), *w = tg_zeros(tape, TG_F64, SHAPE(4, 2, 3, 3));
    assert_shape(tg_conv_transpose2d(tape, x, w, NULL, (tg_conv2d_opts){.stride = {2, 2}, .output_padding = {1, 1}}),
                 SHAPE(1, 2, 8, 8));
    assert_null(tg_conv_transpose2d(tape, x, w, NULL, (tg_conv2d_opts){.stride = {2, 2}, .output_padding = {2, 0}}));
    assert_error("tg_conv_transpose2d", "output_padding {2, 0} is not valid: each must be >= 0 and below the stride");
    assert_null(tg_conv_transpose2d(tape, x, tg_zeros(tape, TG_F64, SHAPE(3, 2, 3, 3)), NULL, (tg_conv2d_opts){0}));
    assert_error("tg_conv_transpose2d", "has 3 input channels, x has 4");
    assert_null(tg_conv_transpose2d(tape, x, w, NULL, (tg_conv2d_opts){.padding = {3, 3}}));
    assert_error("tg_conv_transpose2d", "the output would be -1x-1");
    assert_null(tg_conv_transpose2d(tape, x, w, NULL, (tg_conv2d_opts){.groups = 3}));
    assert_error("tg_conv_transpose2d", "do not split into 3 groups");

    tg_tensor *g = tg_zeros(tape, TG_F64, SHAPE(1, 6, 3, 3));
    assert_shape(tg_conv2d_weight_grad(tape, x, g, 3, 3, (tg_conv2d_opts){.padding = {1, 1}, .groups = 2}),
                 SHAPE(6, 2, 3, 3));
    assert_null(tg_conv2d_weight_grad(tape, x, g, 3, 3, (tg_conv2d_opts){.groups = 2}));
    assert_error("tg_conv2d_weight_grad", "grad_out must be [1,C_out,1,1]");
    assert_null(tg_conv2d_weight_grad(tape, x, g, 0, 3, (tg_conv2d_opts){0}));
    assert_error("tg_conv2d_weight_grad", "kernel 0x3 is empty");
    assert_null(tg_conv2d_weight_grad(tape, x, g, 5, 5, (tg_conv2d_opts){0}));
    assert_error("tg_conv2d_weight_grad", "larger than the padded input 3x3");
}

/* Options near INT64_MAX and empty tensors of huge planes: errors or empty
 * results, never a wrapped size (the sanitizer build reports any overflow). */
static void test_huge_options_and_sizes_are_errors_not_overflows(void **state) {
    (void)state;
    tg_tensor *x = tg_zeros(tape, TG_F32, SHAPE(1, 2, 5, 5)), *w = tg_zeros(tape, TG_F32, SHAPE(3, 2, 3, 3));
    assert_null(tg_conv2d(tape, x, w, NULL, (tg_conv2d_opts){.padding = {INT64_MAX, 1}}));
    assert_error("tg_conv2d", "padding {9223372036854775807, 1} is not valid");
    assert_null(tg_conv2d(tape, x, w, NULL, (tg_conv2d_opts){.dilation = {INT64_MAX, 1}}));
    assert_error("tg_conv2d", "dilation {9223372036854775807, 1} is not valid");
    /* the largest dilation allowed: 2 (2^60 - 1) + 1 rows do not fit in 5 */
    assert_null(tg_conv2d(tape, x, w, NULL, (tg_conv2d_opts){.dilation = {TG_MAX_NUMEL, 1}}));
    assert_error("tg_conv2d", "is larger than the padded input 5x5 along the height");
    assert_null(tg_conv_transpose2d(tape, tg_zeros(tape, TG_F32, SHAPE(1, 3, 5, 5)), w, NULL,
                                    (tg_conv2d_opts){.stride = {(int64_t)1 << 59, 1}}));
    assert_error("tg_conv_transpose2d", "the output would have more than 1152921504606846975 rows or columns");
    assert_null(tg_conv2d_weight_grad(tape, x, tg_zeros(tape, TG_F32, SHAPE(1, 3, 1, 1)), INT64_MAX, 3,
                                      (tg_conv2d_opts){0}));
    assert_error("tg_conv2d_weight_grad", "is larger than the padded input");

    /* an empty batch of 2^29 x 2^29 images: an empty result, no workspace
     * (one image's im2col would have 18 2^58 elements) */
    int64_t side = (int64_t)1 << 29;
    tg_tensor *empty = tg_zeros(tape, TG_F32, SHAPE(0, 2, side, side));
    assert_shape(tg_conv2d(tape, empty, w, NULL, (tg_conv2d_opts){.padding = {1, 1}}), SHAPE(0, 3, side, side));
    tg_tensor *dw = tg_conv2d_weight_grad(tape, empty, tg_zeros(tape, TG_F32, SHAPE(0, 3, side, side)), 3, 3,
                                          (tg_conv2d_opts){.padding = {1, 1}});
    assert_shape(dw, SHAPE(3, 2, 3, 3));
    for (int64_t i = 0; i < dw->numel; i++) assert_true(tg_get(dw, i) == 0.0);
    /* one such image: its im2col would have 9 2^61 elements */
    tg_tensor *huge_w = tg_zeros(tape, TG_F32, SHAPE(1, 8, 3, 3));
    tg_tensor *one = tg_zeros(tape, TG_F32, SHAPE(1, 8, 1, 1));
    assert_null(tg_conv2d(tape, one, huge_w, NULL, (tg_conv2d_opts){.padding = {(int64_t)1 << 29, (int64_t)1 << 29}}));
    assert_error("tg_conv2d", "the convolution's workspace");
}

/* Tape epochs: every convolution op refuses a tensor from before a reset. */
static void test_conv_ops_refuse_a_tensor_from_before_a_reset(void **state) {
    (void)state;
    tg_tensor *old = tg_zeros(tape, TG_F32, SHAPE(1, 2, 5, 5));
    tg_tape_reset(tape);
    tg_tensor *w = tg_zeros(tape, TG_F32, SHAPE(3, 2, 3, 3));
    assert_null(tg_conv2d(tape, old, w, NULL, (tg_conv2d_opts){0}));
    assert_error("tg_conv2d", "input 0 was made before the last tg_tape_reset");
    assert_null(tg_conv_transpose2d(tape, tg_zeros(tape, TG_F32, SHAPE(1, 3, 3, 3)), w, old, (tg_conv2d_opts){0}));
    assert_error("tg_conv_transpose2d", "input 2 was made before the last tg_tape_reset");
    assert_null(tg_conv2d_weight_grad(tape, old, tg_zeros(tape, TG_F32, SHAPE(1, 3, 3, 3)), 3, 3, (tg_conv2d_opts){0}));
    assert_error("tg_conv2d_weight_grad", "input 0 was made before the last tg_tape_reset");
}

/* ---- the DOT exporter's text ---- */
static const char *described(const tg_tensor *y) {
    static char text[128];
    assert_non_null(y);
    y->node->op->describe(y->node, text, sizeof text);
    return text;
}

static void test_conv_nodes_describe_kernel_stride_padding_dilation_and_groups(void **state) {
    (void)state;
    tg_tensor *x = tg_zeros(tape, TG_F32, SHAPE(1, 4, 9, 9)), *w = tg_zeros(tape, TG_F32, SHAPE(4, 2, 3, 3));
    assert_string_equal(described(tg_conv2d(tape, x, w, NULL, (tg_conv2d_opts){.padding = {1, 1}, .groups = 2})),
                        "kernel=3x3 stride=1 pad=1 groups=2");
    assert_string_equal(described(tg_conv2d(tape, x, w, NULL,
                                            (tg_conv2d_opts){.stride = {2, 1}, .dilation = {2, 2}, .groups = 2})),
                        "kernel=3x3 stride=2x1 pad=0 dil=2 groups=2");
    assert_string_equal(described(tg_conv_transpose2d(tape, x, tg_zeros(tape, TG_F32, SHAPE(4, 1, 2, 3)), NULL,
                                                      (tg_conv2d_opts){.stride = {2, 2}, .output_padding = {1, 0}})),
                        "kernel=2x3 stride=2 pad=0 out_pad=1x0");
    tg_tensor *g = tg_zeros(tape, TG_F32, SHAPE(1, 6, 9, 9));
    assert_string_equal(described(tg_conv2d_weight_grad(tape, x, g, 3, 3, (tg_conv2d_opts){.padding = {1, 1}})),
                        "kernel=3x3 stride=1 pad=1");
}

int main(void) {
#define TEST(name) cmocka_unit_test_setup_teardown(name, tape_setup, tape_teardown)
    const struct CMUnitTest tests[] = {
        TEST(test_conv2d_matches_torch_on_odd_sizes_with_padding_and_bias),
        TEST(test_conv2d_matches_torch_with_unequal_strides_and_paddings_on_a_batch_of_one),
        TEST(test_conv2d_matches_torch_with_dilation),
        TEST(test_conv2d_matches_torch_with_groups),
        TEST(test_depthwise_conv2d_matches_torch),
        TEST(test_conv2d_matches_torch_with_1x1_kernels),
        TEST(test_winograd_convolutions_match_torch),
        TEST(test_winograd_on_wide_images_matches_the_definition),
        TEST(test_conv_transpose2d_matches_torch_with_stride_and_output_padding),
        TEST(test_conv_transpose2d_matches_torch_with_groups_and_dilation),
        TEST(test_conv2d_weight_grad_matches_torch),
        TEST(test_a_large_batch_split_over_threads_matches_the_definition_and_any_thread_count),
        TEST(test_a_steady_convolution_loop_allocates_nothing_after_the_first_step),
        TEST(test_conv2d_bad_arguments_name_the_op_and_the_shapes),
        TEST(test_conv_transpose2d_and_weight_grad_bad_arguments_name_the_op_and_the_shapes),
        TEST(test_huge_options_and_sizes_are_errors_not_overflows),
        TEST(test_conv_ops_refuse_a_tensor_from_before_a_reset),
        TEST(test_conv_nodes_describe_kernel_stride_padding_dilation_and_groups),
    };
#undef TEST
    return cmocka_run_group_tests(tests, NULL, NULL);
}
