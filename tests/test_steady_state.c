/* A steady training loop is quiet from its second step: no allocation, no
 * page fault (the arena merged after step 1 is mapped before step 2 runs).
 * On one thread: with more, which regions run parallel depends on the
 * machine's load (core/parallel.h backs off from late threads), and a worker
 * thread's first share of some kernel may touch a new page of its own stack,
 * which is not the arena's doing. */
#define _POSIX_C_SOURCE 200809L
#include <sys/resource.h>

#include "testing.h"

static long minor_faults(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_minflt;
}

typedef struct {
    tg_params *p;
    tg_optim *opt;
    tg_tensor *w1, *b1, *w2, *b2;
    tg_batchnorm_state bn;
    float x[256 * 64];
    int64_t labels[256];
} model;

/* linear 64->128, batchnorm, relu, linear 128->10, cross-entropy + L2; SGD */
static void training_step(tg_tape *t, model *m) {
    tg_tensor *x = tg_tensor_wrap(t, TG_F32, SHAPE(256, 64), m->x);
    tg_tensor *h = tg_relu(t, tg_batchnorm(t, tg_linear(t, x, m->w1, m->b1), &m->bn, true));
    tg_tensor *loss = tg_add(t, tg_cross_entropy(t, tg_linear(t, h, m->w2, m->b2), 256, m->labels),
                             tg_l2_penalty(t, m->p, 1e-4));
    assert_non_null(loss);
    tg_set_grad_to_none(m->p);
    assert_int_equal(tg_backward(t, loss, NULL), TG_OK);
    assert_int_equal(tg_optim_step(m->opt), TG_OK);
    tg_tape_reset(t);
}

static void test_the_second_step_allocates_nothing_and_takes_no_page_fault(void **state) {
    (void)state;
    static model m;
    tg_rng rng = tg_rng_new(8);
    m.p = tg_params_new();
    m.w1 = tg_param(m.p, "w1", TG_F32, SHAPE(64, 128), TG_INIT_KAIMING_UNIFORM, &rng);
    m.b1 = tg_param(m.p, "b1", TG_F32, SHAPE(128), TG_INIT_ZEROS, NULL);
    m.w2 = tg_param(m.p, "w2", TG_F32, SHAPE(128, 10), TG_INIT_KAIMING_UNIFORM, &rng);
    m.b2 = tg_param(m.p, "b2", TG_F32, SHAPE(10), TG_INIT_ZEROS, NULL);
    assert_int_equal(tg_batchnorm_init(&m.bn, m.p, "bn", TG_F32, 128), TG_OK);
    m.opt = tg_sgd_new(m.p, (tg_sgd_opts){.lr = 0.01, .momentum = 0.9});
    for (int i = 0; i < 256 * 64; i++) m.x[i] = (float)tg_rng_normal(&rng);
    for (int i = 0; i < 256; i++) m.labels[i] = i % 10;
    int threads = tg_get_num_threads();
    tg_set_num_threads(1);
    tg_tape *t = tg_tape_new();
    training_step(t, &m); /* step 1: the arena grows, then merges */
    uint64_t allocations = tg_tape_system_allocations(t);
    size_t capacity = tg_tape_arena_capacity(t);
    for (int step = 2; step <= 4; step++) {
        long faults = minor_faults();
        training_step(t, &m);
        long taken = minor_faults() - faults;
        if (taken > 0) print_error("step %d took %ld page faults\n", step, taken);
#ifndef TG_TESTING_SANITIZED /* the sanitizer maps pages of its own (shadow, allocator) as it goes */
        assert_int_equal(taken, 0);
#endif
        assert_int_equal(tg_tape_system_allocations(t), allocations);
        assert_int_equal(tg_tape_arena_capacity(t), capacity);
    }
    tg_set_num_threads(threads);
    tg_tape_free(t);
    tg_optim_free(m.opt);
    tg_params_free(m.p);
}

/* a step whose arena outgrows what the C library keeps around for reuse
 * (tens of MiB): its merged block is fresh memory from the system */
static void big_step(tg_tape *t) {
    tg_tensor *sum = NULL;
    for (int k = 0; k < 5; k++) {
        tg_tensor *x = tg_full(t, TG_F32, SHAPE(2 << 20), 1.0 + k); /* 8 MiB each */
        tg_tensor *s = tg_sum(t, x, NULL, 0, false);
        sum = sum ? tg_add(t, sum, s) : s;
    }
    assert_true(tg_item(sum) == 15.0 * (2 << 20));
    tg_tape_reset(t);
}

static void test_a_large_second_step_takes_no_page_fault(void **state) {
    (void)state;
    tg_tape *t = tg_tape_new();
    big_step(t);
    assert_true(tg_tape_arena_capacity(t) >= (size_t)40 << 20);
    uint64_t allocations = tg_tape_system_allocations(t);
    long faults = minor_faults();
    big_step(t);
    long taken = minor_faults() - faults;
    if (taken > 0) print_error("step 2 took %ld page faults\n", taken);
    assert_int_equal(taken, 0);
    assert_int_equal(tg_tape_system_allocations(t), allocations);
    tg_tape_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_second_step_allocates_nothing_and_takes_no_page_fault),
        cmocka_unit_test(test_a_large_second_step_takes_no_page_fault),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
