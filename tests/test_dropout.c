/* dropout: PyTorch's inverted dropout (identity in evaluation and for p = 0;
 * in training a kept element is x / (1 - p), about 1 - p of them are kept),
 * the gradient is the same mask and scale, masks are reproducible from the
 * seed and independent of the thread count, nothing per element is saved,
 * errors. (Derivatives against central differences: the registry entry.) */
#include "testing.h"

static void test_dropout_in_evaluation_or_with_p_zero_is_the_identity(void **state) {
    (void)state;
    tg_rng rng = tg_rng_new(1);
    tg_tensor *x = iota(TG_F32, SHAPE(3, 4));
    assert_ptr_equal(tg_dropout(tape, x, 0.5, false, &rng), x);
    assert_ptr_equal(tg_dropout(tape, x, 0.5, false, NULL), x);
    assert_ptr_equal(tg_dropout(tape, x, 0.0, true, &rng), x);
    assert_int_equal(tg_tape_node_count(tape), 0);
}

/* 2^18 elements at p = 0.3: the kept fraction is 0.7 within 6 standard deviations (0.0054) */
static void test_dropout_keeps_about_one_minus_p_and_scales_them_by_its_inverse(void **state) {
    (void)state;
    tg_rng rng = tg_rng_new(2024);
    for (int dt = 0; dt < 2; dt++) {
        tg_dtype dtype = dt ? TG_F64 : TG_F32;
        tg_tensor *x = tg_uniform(tape, &rng, dtype, SHAPE(512, 512), 0.5, 1.5);
        tg_tensor *y = tg_dropout(tape, x, 0.3, true, &rng);
        assert_shape(y, SHAPE(512, 512));
        int64_t kept = 0;
        for (int64_t i = 0; i < y->numel; i++) {
            double v = tg_get(y, i);
            if (v == 0) continue;
            kept++;
            /* torch: x * (1 / (1 - p)), the scale rounded to the dtype first */
            double expected = dt ? tg_get(x, i) * (1.0 / 0.7) : (double)((float)tg_get(x, i) * (float)(1.0 / 0.7));
            assert_true(v == expected);
        }
        double fraction = (double)kept / (double)y->numel;
        assert_true(fabs(fraction - 0.7) < 6 * sqrt(0.3 * 0.7 / (double)y->numel));
    }
}

static void test_the_dropout_gradient_is_the_same_mask_and_scale(void **state) {
    (void)state;
    tg_rng rng = tg_rng_new(5);
    tg_tensor *x = tg_uniform(tape, &rng, TG_F64, SHAPE(40, 50), 0.5, 1.5);
    tg_requires_grad(x);
    tg_tensor *y = tg_dropout(tape, x, 0.6, true, &rng);
    assert_int_equal(tg_backward(tape, tg_sum(tape, y, NULL, 0, false), NULL), TG_OK);
    for (int64_t i = 0; i < x->numel; i++) assert_true(tg_get(x->grad, i) == (tg_get(y, i) != 0 ? 1 / 0.4 : 0));
}

static void test_the_same_seed_gives_the_same_mask_and_the_next_call_a_new_one(void **state) {
    (void)state;
    tg_tensor *x = tg_ones(tape, TG_F32, SHAPE(64, 64));
    tg_rng first = tg_rng_new(9), again = tg_rng_new(9), other = tg_rng_new(10);
    tg_tensor *a = tg_dropout(tape, x, 0.5, true, &first), *b = tg_dropout(tape, x, 0.5, true, &again);
    assert_true(tg_tensor_hash(a) == tg_tensor_hash(b));
    assert_true(tg_tensor_hash(tg_dropout(tape, x, 0.5, true, &first)) != tg_tensor_hash(a));
    assert_true(tg_tensor_hash(tg_dropout(tape, x, 0.5, true, &other)) != tg_tensor_hash(a));
}

/* 2^20 elements: split over threads, the same mask for 1, 2 and 3 threads */
static void test_the_dropout_mask_does_not_depend_on_the_thread_count(void **state) {
    (void)state;
    int threads = tg_get_num_threads();
    tg_tensor *x = tg_ones(tape, TG_F32, SHAPE(1024, 1024));
    uint64_t hashes[3];
    for (int n = 1; n <= 3; n++) {
        tg_set_num_threads(n);
        tg_rng rng = tg_rng_new(77);
        hashes[n - 1] = tg_tensor_hash(tg_dropout(tape, x, 0.25, true, &rng));
    }
    tg_set_num_threads(threads);
    assert_true(hashes[0] == hashes[1] && hashes[0] == hashes[2]);
}

static void test_dropout_saves_nothing_per_element_for_backward(void **state) {
    (void)state;
    tg_rng rng = tg_rng_new(3);
    tg_tensor *x = tg_ones(tape, TG_F32, SHAPE(256, 256));
    tg_requires_grad(x);
    size_t before = tg_tape_arena_used(tape);
    tg_tensor *y = tg_dropout(tape, x, 0.5, true, &rng);
    assert_non_null(y);
    assert_true(tg_tape_arena_used(tape) - before < sizeof(float) * (size_t)y->numel + 4096); /* y and its node */
}

static void test_dropout_bad_p_or_a_missing_rng_is_an_error(void **state) {
    (void)state;
    tg_rng rng = tg_rng_new(1);
    tg_tensor *x = tg_ones(tape, TG_F64, SHAPE(2, 3));
    assert_null(tg_dropout(tape, x, 1.0, true, &rng));
    assert_error("tg_dropout", "p = 1 is outside [0, 1) (x f64[2,3])");
    assert_null(tg_dropout(tape, x, -0.1, false, &rng));
    assert_error("tg_dropout", "p = -0.1 is outside [0, 1)");
    assert_null(tg_dropout(tape, x, NAN, true, &rng));
    assert_error("tg_dropout", "is outside [0, 1)");
    assert_null(tg_dropout(tape, x, 0.5, true, NULL));
    assert_error("tg_dropout", "training needs a tg_rng for the mask, got NULL");
    assert_null(tg_dropout(tape, NULL, 0.5, true, &rng));
    assert_error("tg_dropout", "input 0 is NULL");
}

static void test_dropout_describes_its_probability_but_not_its_key(void **state) {
    (void)state;
    tg_rng rng = tg_rng_new(1);
    tg_tensor *x = tg_ones(tape, TG_F64, SHAPE(2, 3));
    char first[32], second[32];
    tg_tensor *a = tg_dropout(tape, x, 0.25, true, &rng), *b = tg_dropout(tape, x, 0.25, true, &rng);
    a->node->op->describe(a->node, first, sizeof first);
    b->node->op->describe(b->node, second, sizeof second);
    assert_string_equal(first, "p=0.25");
    assert_string_equal(second, "p=0.25"); /* another mask, the same model: the same DOT node id */
}

int main(void) {
#define TEST(name) cmocka_unit_test_setup_teardown(name, tape_setup, tape_teardown)
    const struct CMUnitTest tests[] = {
        TEST(test_dropout_in_evaluation_or_with_p_zero_is_the_identity),
        TEST(test_dropout_keeps_about_one_minus_p_and_scales_them_by_its_inverse),
        TEST(test_the_dropout_gradient_is_the_same_mask_and_scale),
        TEST(test_the_same_seed_gives_the_same_mask_and_the_next_call_a_new_one),
        TEST(test_the_dropout_mask_does_not_depend_on_the_thread_count),
        TEST(test_dropout_saves_nothing_per_element_for_backward),
        TEST(test_dropout_bad_p_or_a_missing_rng_is_an_error),
        TEST(test_dropout_describes_its_probability_but_not_its_key),
    };
#undef TEST
    return cmocka_run_group_tests(tests, NULL, NULL);
}
