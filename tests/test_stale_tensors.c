/* Tensors from before a tg_tape_reset are stale: their memory is reused by
 * the next step. Every op, the engine, tg_detach and the DOT exporter refuse
 * them with an error naming the argument, also in a steady loop where a new
 * tensor of the next step occupies the same arena; sanitizer builds poison
 * released arena memory, so any other read of a stale tensor is reported. */
#define _POSIX_C_SOURCE 200809L /* fork, pipe */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testing.h"

static void test_an_op_given_a_tensor_from_before_a_reset_names_the_input(void **state) {
    (void)state;
    tg_tensor *old = tg_ones(tape, TG_F32, SHAPE(2, 3));
    tg_tape_reset(tape);
    tg_tensor *fresh = tg_ones(tape, TG_F32, SHAPE(2, 3));
    assert_null(tg_add(tape, fresh, old));
    assert_int_equal(tg_tape_status(tape), TG_ERR_STATE);
    assert_error("tg_add: input 1 was made before the last tg_tape_reset of its tape", "tg_params store");
    assert_null(tg_relu(tape, old));
    assert_error("tg_relu: input 0", "before the last tg_tape_reset");
    assert_null(tg_concat(tape, 2, (tg_tensor *[]){fresh, old}, 0));
    assert_error("tg_concat: input 1", "before the last tg_tape_reset");
    assert_null(tg_detach(tape, old));
    assert_error("tg_detach", "before the last tg_tape_reset");
}

/* A steady loop makes the same allocations every step: the first tensor of a
 * step would sit exactly where the first tensor of the step before sat. */
static void test_a_tensor_of_the_previous_step_is_refused_in_a_steady_loop(void **state) {
    (void)state;
    tg_tensor *previous = NULL;
    for (int step = 0; step < 8; step++) {
        tg_tensor *x = T64(tape, SHAPE(4), 1, 2, 3, 4);
        tg_tensor *y = tg_mul_scalar(tape, tg_exp(tape, x), 2.0);
        assert_non_null(y);
        if (previous) {
            assert_null(tg_add(tape, y, previous));
            assert_error("tg_add: input 1", "before the last tg_tape_reset");
        }
        previous = x;
        tg_tape_reset(tape);
    }
}

/* graph/backward.c used to follow the old root's node index past the nodes
 * of the new step and dereference NULL */
static void test_backward_on_a_root_from_before_a_reset_is_an_error(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(3), 1, 2, 3);
    assert_int_equal(tg_requires_grad(x), TG_OK);
    tg_tensor *loss = tg_sum(tape, tg_square(tape, tg_exp(tape, x)), NULL, 0, false);
    assert_non_null(loss);
    tg_tape_reset(tape);
    assert_int_equal(tg_backward(tape, loss, NULL), TG_ERR_STATE);
    assert_error("tg_backward: root", "was made before the last tg_tape_reset");
    tg_tensor *y = T64(tape, SHAPE(1), 2);
    assert_int_equal(tg_requires_grad(y), TG_OK);
    tg_tensor *z = tg_square(tape, y);
    assert_int_equal(tg_backward(tape, z, &(tg_backward_opts){.grad_output = loss}), TG_ERR_STATE);
    assert_error("tg_backward: grad_output", "was made before the last tg_tape_reset");
    tg_tensor *g;
    assert_int_equal(tg_grad(tape, 1, &z, NULL, 1, &x, &g, NULL), TG_ERR_STATE);
    assert_error_mentions(tg_last_error(), "tg_grad: input 0 was made before the last tg_tape_reset");
    assert_int_equal(tg_dot_write(tape, loss, stderr, NULL), TG_ERR_STATE);
    assert_error_mentions(tg_last_error(), "tg_dot_write: root was made before");
    /* the tape still works */
    tg_tape_clear_error(tape);
    assert_int_equal(tg_backward(tape, z, NULL), TG_OK);
    ASSERT_VALUES(y->grad, 0, 4);
}

static void test_parameters_and_tensors_of_the_new_step_are_fine_after_a_reset(void **state) {
    (void)state;
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_param(p, "w", TG_F64, SHAPE(2), TG_INIT_ONES, NULL);
    for (int step = 0; step < 3; step++) {
        tg_tensor *x = T64(tape, SHAPE(2), 1, 2);
        tg_tensor *loss = tg_sum(tape, tg_mul(tape, tg_reshape(tape, w, SHAPE(1, 2)), x), NULL, 0, false);
        assert_int_equal(tg_backward(tape, loss, NULL), TG_OK);
        assert_int_equal(tg_tape_status(tape), TG_OK);
        tg_tape_reset(tape);
    }
    ASSERT_VALUES(w->grad, 0, 3, 6);
    tg_params_free(p);
}

static void test_each_reset_starts_a_new_epoch_unique_over_tapes(void **state) {
    (void)state;
    tg_tape *other = tg_tape_new();
    uint64_t a = tg_tape_epoch(tape), b = tg_tape_epoch(other);
    assert_true(a != 0 && b != 0 && a != b);
    tg_tape_reset(tape);
    assert_true(tg_tape_epoch(tape) != a && tg_tape_epoch(tape) != b);
    tg_tensor *x = tg_zeros(tape, TG_F32, SHAPE(1));
    assert_true(x->epoch == tg_tape_epoch(tape));
    assert_true(tg_reshape(tape, x, 0, NULL)->epoch == tg_tape_epoch(tape));
    assert_false(tg_tape_is_stale(tape, x));
    assert_false(tg_tape_is_stale(other, x)); /* of another tape: not stale, foreign */
    tg_tape_free(other);
}

/* ---- sanitizer builds: released arena memory is poisoned ---- */

#ifdef TG_TESTING_SANITIZED
/* Runs `body` in a child process and returns what it wrote on stderr (the
 * sanitizer's report); the child must die. */
static void expect_sanitizer_report(void (*body)(void), const char *fragment) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        body();
        _exit(0); /* not reported: the parent fails */
    }
    close(fds[1]);
    static char report[1 << 16];
    size_t len = 0;
    ssize_t n;
    while ((n = read(fds[0], report + len, sizeof report - 1 - len)) > 0) len += (size_t)n;
    report[len] = '\0';
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_error_mentions(report, fragment);
}

static void read_a_stale_value(void) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_ones(t, TG_F64, SHAPE(8));
    tg_tape_reset(t);
    printf("%g\n", tg_get(x, 3)); /* reads x after the reset */
}

static void read_stale_data_through_a_pointer(void) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_ones(t, TG_F32, SHAPE(100));
    float *data = x->data;
    tg_tape_reset(t);
    printf("%g\n", (double)data[50]);
}

#endif

static void test_sanitizer_reports_reading_a_tensor_after_a_reset(void **state) {
    (void)state;
#ifdef TG_TESTING_SANITIZED
    expect_sanitizer_report(read_a_stale_value, "use-after-poison");
    expect_sanitizer_report(read_stale_data_through_a_pointer, "use-after-poison");
#else
    skip(); /* a Release build cannot see the read; the sanitizer build of the suite runs this */
#endif
}

static void test_sanitizer_build_refuses_a_tensor_whose_memory_the_reset_gave_back(void **state) {
    (void)state;
#ifdef TG_TESTING_SANITIZED
    tg_tensor *big = tg_zeros(tape, TG_F64, SHAPE(1 << 18)); /* 2 MiB: the arena grows, reset merges and frees */
    assert_non_null(big);
    tg_tape_reset(tape);
    assert_null(tg_neg(tape, big));
    assert_error("tg_neg: input 0", "before the last tg_tape_reset");
#else
    skip(); /* reading freed memory may crash a Release build (see core/tape.h) */
#endif
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, tape_setup, tape_teardown)
    const struct CMUnitTest tests[] = {
        T(test_an_op_given_a_tensor_from_before_a_reset_names_the_input),
        T(test_a_tensor_of_the_previous_step_is_refused_in_a_steady_loop),
        T(test_backward_on_a_root_from_before_a_reset_is_an_error),
        T(test_parameters_and_tensors_of_the_new_step_are_fine_after_a_reset),
        T(test_each_reset_starts_a_new_epoch_unique_over_tapes),
        T(test_sanitizer_reports_reading_a_tensor_after_a_reset),
        T(test_sanitizer_build_refuses_a_tensor_whose_memory_the_reset_gave_back),
    };
#undef T
    return cmocka_run_group_tests_name("stale tensors", tests, NULL, NULL);
}
