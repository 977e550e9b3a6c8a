/* tg_tensor_wrap: a tape tensor over the caller's memory, no copy; its
 * lifetime and version rules. */
#include "testing.h"

static void test_a_wrapped_tensor_uses_the_callers_memory_without_copying(void **state) {
    (void)state;
    float data[6] = {1, 2, 3, 4, 5, 6};
    tg_tensor *x = tg_tensor_wrap(tape, TG_F32, SHAPE(2, 3), data);
    assert_non_null(x);
    assert_ptr_equal(x->data, data);
    assert_int_equal(x->kind, TG_KIND_CONSTANT);
    assert_shape(x, SHAPE(2, 3));
    ASSERT_VALUES(tg_sum(tape, x, (const int[]){1}, 1, false), 0, 6, 15);
    data[0] = 10; /* the tensor sees the caller's memory */
    assert_true(tg_get(x, 0) == 10);
}

static void test_a_wrapped_tensor_can_be_differentiated(void **state) {
    (void)state;
    double data[3] = {1, -2, 3};
    tg_tensor *x = tg_tensor_wrap(tape, TG_F64, SHAPE(3), data);
    assert_int_equal(tg_requires_grad(x), TG_OK);
    tg_tensor *loss = tg_sum(tape, tg_square(tape, x), NULL, 0, false);
    assert_int_equal(tg_backward(tape, loss, NULL), TG_OK);
    ASSERT_VALUES(x->grad, 0, 2, -4, 6);
    assert_true(data[1] == -2); /* never written */
}

static void test_changing_wrapped_memory_after_use_and_bumping_the_version_stops_backward(void **state) {
    (void)state;
    double data[2] = {1, 2};
    tg_tensor *w = tg_tensor_wrap(tape, TG_F64, SHAPE(2), data);
    tg_tensor *x = T64(tape, SHAPE(2), 3, 4);
    assert_int_equal(tg_requires_grad(x), TG_OK);
    tg_tensor *loss = tg_sum(tape, tg_mul(tape, x, w), NULL, 0, false); /* mul saved w for dL/dx */
    data[0] = 7;
    tg_tensor_bump_version(w);
    assert_int_equal(tg_backward(tape, loss, NULL), TG_ERR_STATE);
    assert_error("tg_backward", "modified in place");
}

static void test_wrapping_null_or_misaligned_memory_is_an_error(void **state) {
    (void)state;
    assert_null(tg_tensor_wrap(tape, TG_F64, SHAPE(2), NULL));
    assert_error("tg_tensor_wrap", "NULL");
    double data[3];
    assert_null(tg_tensor_wrap(tape, TG_F64, SHAPE(2), (char *)data + 4));
    assert_error("tg_tensor_wrap", "not aligned");
    assert_null(tg_tensor_wrap(tape, TG_F64, SHAPE(-1), data));
    assert_error("tg_tensor_wrap", "negative dimension");
}

/* data kept across steps is wrapped each step: no copy, no allocation */
static void test_wrapping_in_a_steady_loop_allocates_nothing(void **state) {
    (void)state;
    static float batch[64 * 32];
    for (int i = 0; i < 64 * 32; i++) batch[i] = (float)(i % 7) - 3;
    tg_tensor *x;
    uint64_t allocations = 0;
    for (int step = 0; step < 5; step++) {
        size_t before = tg_tape_arena_used(tape);
        x = tg_tensor_wrap(tape, TG_F32, SHAPE(64, 32), batch);
        assert_true(tg_tape_arena_used(tape) - before < 1024); /* a header: the batch is not copied */
        assert_non_null(tg_mean(tape, tg_relu(tape, x), NULL, 0, false));
        tg_tape_reset(tape);
        if (step == 0) allocations = tg_tape_system_allocations(tape);
    }
    assert_int_equal(tg_tape_system_allocations(tape), allocations);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, tape_setup, tape_teardown)
    const struct CMUnitTest tests[] = {
        T(test_a_wrapped_tensor_uses_the_callers_memory_without_copying),
        T(test_a_wrapped_tensor_can_be_differentiated),
        T(test_changing_wrapped_memory_after_use_and_bumping_the_version_stops_backward),
        T(test_wrapping_null_or_misaligned_memory_is_an_error),
        T(test_wrapping_in_a_steady_loop_allocates_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
