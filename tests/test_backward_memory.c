/* A backward pass gives back, as it goes, the gradients the rest of the pass
 * no longer needs: its peak stays near the forward pass's memory plus one
 * layer's gradients, with the same gradients as a pass that keeps everything. */
#include "testing.h"

enum { LAYERS = 8, WIDTH = 256, BATCH = 64 };

typedef struct {
    tg_params *p;
    tg_tensor *w[LAYERS];
    float x[BATCH * WIDTH];
} deep;

static void deep_init(deep *m) {
    tg_rng rng = tg_rng_new(12);
    m->p = tg_params_new();
    for (int l = 0; l < LAYERS; l++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", l);
        m->w[l] = tg_param(m->p, name, TG_F32, SHAPE(WIDTH, WIDTH), TG_INIT_KAIMING_UNIFORM, &rng);
    }
    for (int i = 0; i < BATCH * WIDTH; i++) m->x[i] = (float)tg_rng_normal(&rng);
}

/* forward of a deep ReLU MLP; returns the arena in use after it */
static tg_tensor *deep_forward(tg_tape *t, deep *m, size_t *forward_bytes) {
    tg_tensor *h = tg_tensor_wrap(t, TG_F32, SHAPE(BATCH, WIDTH), m->x);
    for (int l = 0; l < LAYERS; l++) h = tg_relu(t, tg_matmul(t, h, m->w[l]));
    tg_tensor *loss = tg_mean(t, tg_square(t, h), NULL, 0, false);
    *forward_bytes = tg_tape_arena_used(t);
    return loss;
}

/* peak of the backward pass, and a hash of every parameter's gradient */
static size_t backward_peak(deep *m, bool retain_graph, size_t *forward_bytes, uint64_t *grads) {
    tg_tape *t = tg_tape_new();
    tg_tensor *loss = deep_forward(t, m, forward_bytes);
    tg_set_grad_to_none(m->p);
    assert_int_equal(tg_backward(t, loss, &(tg_backward_opts){.retain_graph = retain_graph}), TG_OK);
    size_t peak = tg_tape_arena_peak(t);
    *grads = 0;
    for (int l = 0; l < LAYERS; l++) *grads = *grads * 31 + tg_tensor_hash(m->w[l]->grad);
    tg_tape_free(t);
    return peak;
}

static void test_backward_peak_stays_near_forward_memory_plus_one_layer(void **state) {
    (void)state;
    static deep m;
    deep_init(&m);
    size_t forward, forward_kept;
    uint64_t grads, grads_kept;
    size_t peak = backward_peak(&m, false, &forward, &grads);
    size_t kept = backward_peak(&m, true, &forward_kept, &grads_kept);
    size_t layer = (size_t)WIDTH * WIDTH * sizeof(float); /* one weight's gradient, 256 KiB */
    print_message("forward %zu KiB, backward peak %zu KiB releasing, %zu KiB keeping everything\n", forward >> 10,
                  peak >> 10, kept >> 10);
    assert_true(kept > forward + LAYERS * layer);          /* every weight's gradient at once */
    assert_true(peak < forward + 3 * layer);               /* about one at a time */
    assert_true(grads == grads_kept);                      /* and the same gradients */
    tg_params_free(m.p);
}

/* tg_grad of intermediate results: their gradients are kept to the end */
static void test_tg_grad_keeps_the_gradients_it_returns(void **state) {
    (void)state;
    static deep m;
    deep_init(&m);
    tg_tensor *grads[2][2];
    uint64_t hashes[2][2];
    for (int retain = 0; retain < 2; retain++) {
        tg_tape *t = tg_tape_new();
        tg_tensor *h = tg_tensor_wrap(t, TG_F32, SHAPE(BATCH, WIDTH), m.x), *mid = NULL;
        for (int l = 0; l < LAYERS; l++) {
            h = tg_relu(t, tg_matmul(t, h, m.w[l]));
            if (l == 2) mid = h;
        }
        tg_tensor *loss = tg_mean(t, tg_square(t, h), NULL, 0, false);
        tg_tensor *inputs[2] = {mid, m.w[0]};
        assert_int_equal(tg_grad(t, 1, &loss, NULL, 2, inputs, grads[retain], &(tg_grad_opts){.retain_graph = retain}),
                         TG_OK);
        for (int k = 0; k < 2; k++) hashes[retain][k] = tg_tensor_hash(grads[retain][k]);
        tg_tape_free(t);
    }
    assert_true(hashes[0][0] == hashes[1][0]);
    assert_true(hashes[0][1] == hashes[1][1]);
    tg_params_free(m.p);
}

/* after a releasing pass, intermediates carry no stale gradient */
static void test_a_releasing_pass_leaves_no_gradient_on_intermediates(void **state) {
    (void)state;
    static deep m;
    deep_init(&m);
    tg_tape *t = tg_tape_new();
    size_t forward;
    tg_tensor *loss = deep_forward(t, &m, &forward);
    assert_int_equal(tg_backward(t, loss, NULL), TG_OK);
    for (int64_t i = 0; i < tg_tape_node_count(t); i++) assert_null(tg_tape_node(t, i)->output->pending_grad);
    tg_tape_free(t);
    tg_params_free(m.p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backward_peak_stays_near_forward_memory_plus_one_layer),
        cmocka_unit_test(test_tg_grad_keeps_the_gradients_it_returns),
        cmocka_unit_test(test_a_releasing_pass_leaves_no_gradient_on_intermediates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
