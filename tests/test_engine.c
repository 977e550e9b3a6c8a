/* The reverse-mode engine (graph/backward.c): seeding, accumulation into
 * ->grad, retain_graph, version checks, no-grad, tg_grad and create_graph,
 * gradient flow through shared tensors, diamonds and broadcasting. */
#include "testing.h"

typedef struct {
    tg_tape *t;
    tg_params *p;
    tg_tensor *w; /* parameter "fc1.weight", f64[3] = {1, -2, 0.5} */
} fixture;

static int setup(void **state) {
    static fixture f;
    f.t = tg_tape_new();
    f.p = tg_params_new();
    f.w = tg_param(f.p, "fc1.weight", TG_F64, SHAPE(3), TG_INIT_ZEROS, NULL);
    const double w[3] = {1.0, -2.0, 0.5};
    for (int i = 0; i < 3; i++) tg_set(f.w, i, w[i]);
    *state = &f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    tg_tape_free(f->t);
    tg_params_free(f->p);
    return 0;
}

/* sum(w * c), c = {3, 4, 5}: dL/dw = c */
static tg_tensor *weighted_sum(fixture *f) {
    tg_tensor *c = T64(f->t, SHAPE(3), 3, 4, 5);
    return tg_sum(f->t, tg_mul(f->t, f->w, c), NULL, 0, false);
}

static void test_scalar_root_is_seeded_with_one(void **state) {
    fixture *f = *state;
    tg_tensor *loss = weighted_sum(f);
    ASSERT_VALUES(loss, 1e-12, 3 - 8 + 2.5);
    assert_int_equal(tg_backward(f->t, loss, NULL), TG_OK);
    ASSERT_VALUES(f->w->grad, 0, 3, 4, 5);
}

static void test_scalar_root_of_shape_one_by_one_is_seeded_with_one(void **state) {
    fixture *f = *state;
    tg_tensor *loss = tg_sum(f->t, tg_mul(f->t, f->w, f->w), (const int[]){0}, 1, true); /* [1] */
    assert_int_equal(loss->ndim, 1);
    assert_int_equal(tg_backward(f->t, loss, NULL), TG_OK);
    ASSERT_VALUES(f->w->grad, 0, 2, -4, 1);
}

static void test_non_scalar_root_needs_grad_output(void **state) {
    fixture *f = *state;
    tg_tensor *y = tg_mul_scalar(f->t, f->w, 2.0);
    assert_int_equal(tg_backward(f->t, y, NULL), TG_ERR_SHAPE);
    assert_error_mentions(tg_tape_error(f->t), "tg_backward");
    assert_error_mentions(tg_tape_error(f->t), "not a scalar");
    assert_error_mentions(tg_tape_error(f->t), "grad_output");
    assert_error_mentions(tg_tape_error(f->t), "f64[3]");
    ASSERT_VALUES(f->w->grad, 0, 0, 0, 0);

    /* the error is sticky; once cleared, the same (unreleased) graph runs */
    tg_tensor *g = T64(f->t, SHAPE(3), 1, 10, 100);
    assert_int_equal(tg_backward(f->t, y, &(tg_backward_opts){.grad_output = g}), TG_ERR_SHAPE);
    tg_tape_clear_error(f->t);
    assert_int_equal(tg_backward(f->t, y, &(tg_backward_opts){.grad_output = g}), TG_OK);
    ASSERT_VALUES(f->w->grad, 0, 2, 20, 200);
    tg_zero_grad(f->p);

    tg_tape_reset(f->t);
    y = tg_mul_scalar(f->t, f->w, 2.0);
    g = T64(f->t, SHAPE(3), 1, 10, 100);
    assert_int_equal(tg_backward(f->t, y, &(tg_backward_opts){.grad_output = g}), TG_OK);
    ASSERT_VALUES(f->w->grad, 0, 2, 20, 200);
}

static void test_grad_output_of_another_shape_is_an_error(void **state) {
    fixture *f = *state;
    tg_tensor *y = tg_mul_scalar(f->t, f->w, 2.0);
    tg_tensor *g = T64(f->t, SHAPE(2), 1, 1);
    assert_int_equal(tg_backward(f->t, y, &(tg_backward_opts){.grad_output = g}), TG_ERR_SHAPE);
    assert_error_mentions(tg_tape_error(f->t), "grad_output f64[2]");
    assert_error_mentions(tg_tape_error(f->t), "f64[3]");
}

static void test_gradients_accumulate_across_backward_passes_until_zero_grad(void **state) {
    fixture *f = *state;
    for (int pass = 1; pass <= 2; pass++) {
        tg_tape_reset(f->t);
        assert_int_equal(tg_backward(f->t, weighted_sum(f), NULL), TG_OK);
    }
    ASSERT_VALUES(f->w->grad, 0, 6, 8, 10);
    tg_zero_grad(f->p);
    ASSERT_VALUES(f->w->grad, 0, 0, 0, 0);
    tg_tape_reset(f->t);
    assert_int_equal(tg_backward(f->t, weighted_sum(f), NULL), TG_OK);
    ASSERT_VALUES(f->w->grad, 0, 3, 4, 5);
}

static void test_tape_tensors_marked_with_requires_grad_get_a_grad(void **state) {
    fixture *f = *state;
    tg_tensor *x = T64(f->t, SHAPE(2), 1.5, -3);
    tg_tensor *c = T64(f->t, SHAPE(2), 7, 7);
    assert_int_equal(tg_requires_grad(x), TG_OK);
    assert_int_equal(x->kind, TG_KIND_INPUT);
    tg_tensor *h = tg_square(f->t, x); /* an intermediate, marked too */
    assert_int_equal(tg_requires_grad(h), TG_OK);
    tg_tensor *loss = tg_sum(f->t, tg_mul(f->t, h, c), NULL, 0, false); /* sum 7 x^2 */
    assert_int_equal(tg_backward(f->t, loss, NULL), TG_OK);
    ASSERT_VALUES(x->grad, 0, 21, -42);
    ASSERT_VALUES(h->grad, 0, 7, 7);
    assert_null(c->grad);
}

static void test_backward_twice_without_retain_graph_is_an_error(void **state) {
    fixture *f = *state;
    tg_tensor *loss = weighted_sum(f);
    assert_int_equal(tg_backward(f->t, loss, NULL), TG_OK);
    assert_int_equal(tg_backward(f->t, loss, NULL), TG_ERR_STATE);
    assert_error_mentions(tg_tape_error(f->t), "tg_backward");
    assert_error_mentions(tg_tape_error(f->t), "released");
    assert_error_mentions(tg_tape_error(f->t), "retain_graph");
    ASSERT_VALUES(f->w->grad, 0, 3, 4, 5); /* the refused pass added nothing */
}

static void test_backward_through_a_released_intermediate_is_an_error(void **state) {
    fixture *f = *state;
    tg_tensor *h = tg_mul_scalar(f->t, f->w, 3.0);
    assert_int_equal(tg_backward(f->t, tg_sum(f->t, h, NULL, 0, false), NULL), TG_OK);
    tg_tensor *again = tg_sum(f->t, tg_square(f->t, h), NULL, 0, false); /* recorded after the release */
    assert_int_equal(tg_backward(f->t, again, NULL), TG_ERR_STATE);
    assert_error_mentions(tg_tape_error(f->t), "retain_graph");
}

static void test_retain_graph_allows_a_second_backward_that_accumulates(void **state) {
    fixture *f = *state;
    tg_tensor *loss = weighted_sum(f);
    tg_backward_opts retain = {.retain_graph = true};
    assert_int_equal(tg_backward(f->t, loss, &retain), TG_OK);
    assert_int_equal(tg_backward(f->t, loss, &retain), TG_OK);
    ASSERT_VALUES(f->w->grad, 0, 6, 8, 10);
    assert_int_equal(tg_backward(f->t, loss, NULL), TG_OK); /* third, releasing */
    ASSERT_VALUES(f->w->grad, 0, 9, 12, 15);
    assert_int_equal(tg_tape_status(f->t), TG_OK);
}

static void test_parameter_bumped_after_forward_fails_backward_naming_it(void **state) {
    fixture *f = *state;
    tg_tensor *loss = weighted_sum(f);
    tg_tensor_bump_version(f->w);
    assert_int_equal(tg_backward(f->t, loss, NULL), TG_ERR_STATE);
    assert_error_mentions(tg_tape_error(f->t), "tg_backward");
    assert_error_mentions(tg_tape_error(f->t), "parameter 'fc1.weight'");
    assert_error_mentions(tg_tape_error(f->t), "modified in place");
    assert_error_mentions(tg_tape_error(f->t), "mul");
    ASSERT_VALUES(f->w->grad, 0, 0, 0, 0);
}

static void test_sgd_step_between_forward_and_backward_fails_backward(void **state) {
    fixture *f = *state;
    tg_optim *opt = tg_sgd_new(f->p, (tg_sgd_opts){.lr = 0.1});
    assert_non_null(opt);
    tg_tensor *loss = weighted_sum(f);
    assert_int_equal(tg_backward(f->t, loss, &(tg_backward_opts){.retain_graph = true}), TG_OK);
    assert_int_equal(tg_optim_step(opt), TG_OK);
    ASSERT_VALUES(f->w, 1e-15, 1 - 0.3, -2 - 0.4, 0.5 - 0.5);
    assert_int_equal(tg_backward(f->t, loss, NULL), TG_ERR_STATE);
    assert_error_mentions(tg_tape_error(f->t), "fc1.weight");
    /* a fresh forward pass after the step is fine */
    tg_tape_reset(f->t);
    assert_int_equal(tg_backward(f->t, weighted_sum(f), NULL), TG_OK);
    tg_optim_free(opt);
}

static void test_root_computed_with_recording_off_is_an_error(void **state) {
    fixture *f = *state;
    bool was = tg_tape_set_grad_enabled(f->t, false);
    assert_true(was);
    tg_tensor *loss = weighted_sum(f);
    tg_tape_set_grad_enabled(f->t, true);
    ASSERT_VALUES(loss, 1e-12, -2.5); /* the forward still runs */
    assert_false(loss->requires_grad);
    assert_int_equal(tg_tape_node_count(f->t), 0);
    assert_int_equal(tg_backward(f->t, loss, NULL), TG_ERR_STATE);
    assert_error_mentions(tg_tape_error(f->t), "does not require a gradient");
    ASSERT_VALUES(f->w->grad, 0, 0, 0, 0);
}

static void test_root_of_constants_only_is_an_error(void **state) {
    fixture *f = *state;
    tg_tensor *a = T64(f->t, SHAPE(2), 1, 2);
    tg_tensor *loss = tg_sum(f->t, tg_exp(f->t, a), NULL, 0, false);
    assert_int_equal(tg_backward(f->t, loss, NULL), TG_ERR_STATE);
    assert_error_mentions(tg_tape_error(f->t), "tg_backward: root f64[] does not require a gradient");
}

static void test_null_root_is_an_error(void **state) {
    fixture *f = *state;
    assert_int_equal(tg_backward(f->t, NULL, NULL), TG_ERR_ARG);
    assert_error_mentions(tg_tape_error(f->t), "root is NULL");
    assert_int_equal(tg_backward(NULL, NULL, NULL), TG_ERR_ARG);
}

static void test_root_of_another_tape_is_an_error(void **state) {
    fixture *f = *state;
    tg_tape *other = tg_tape_new();
    tg_tensor *loss = tg_sum(other, tg_square(other, f->w), NULL, 0, false);
    assert_int_equal(tg_backward(f->t, loss, NULL), TG_ERR_ARG);
    assert_error_mentions(tg_tape_error(f->t), "another tape");
    tg_tape_free(other);
}

/* it used to be reported as an error of tg_mul, the first op of the backward pass */
static void test_grad_output_of_another_tape_is_named_as_the_grad_output(void **state) {
    fixture *f = *state;
    tg_tape *other = tg_tape_new();
    tg_tensor *y = tg_mul_scalar(f->t, f->w, 2.0); /* [3], not a scalar */
    tg_tensor *g = tg_ones(other, TG_F64, SHAPE(3));
    assert_int_equal(tg_backward(f->t, y, &(tg_backward_opts){.grad_output = g}), TG_ERR_ARG);
    assert_error_mentions(tg_tape_error(f->t), "tg_backward: grad_output belongs to another tape");
    tg_tape_clear_error(f->t);
    tg_tensor *grad;
    assert_int_equal(tg_grad(f->t, 1, &y, &g, 1, &f->w, &grad, NULL), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "tg_grad: grad_output belongs to another tape");
    tg_tape_free(other);
}

static void test_backward_refuses_a_tape_with_an_earlier_error_and_repeats_it(void **state) {
    fixture *f = *state;
    tg_tensor *loss = weighted_sum(f);
    tg_tensor *a = tg_zeros(f->t, TG_F64, SHAPE(32, 784)), *b = tg_zeros(f->t, TG_F64, SHAPE(256, 10));
    assert_null(tg_matmul(f->t, a, b));
    tg_status first = tg_tape_status(f->t);
    assert_int_equal(first, TG_ERR_SHAPE);
    assert_int_equal(tg_backward(f->t, loss, NULL), first);
    assert_error_mentions(tg_last_error(), "tg_backward");
    assert_error_mentions(tg_last_error(), "earlier error");
    assert_error_mentions(tg_last_error(), "tg_matmul: inner dimensions differ");
    assert_error_mentions(tg_tape_error(f->t), "tg_matmul"); /* the first error stays */
    ASSERT_VALUES(f->w->grad, 0, 0, 0, 0);
}

static void test_grad_returns_gradients_and_leaves_grad_alone(void **state) {
    fixture *f = *state;
    tg_tensor *x = T64(f->t, SHAPE(2), 2, -1);
    tg_tensor *unused = T64(f->t, SHAPE(2, 2), 5, 5, 5, 5);
    assert_int_equal(tg_requires_grad(x), TG_OK);
    assert_int_equal(tg_requires_grad(unused), TG_OK);
    /* L = sum(w) * sum(x^3) */
    tg_tensor *loss = tg_mul(f->t, tg_sum(f->t, f->w, NULL, 0, false),
                             tg_sum(f->t, tg_pow_scalar(f->t, x, 3.0), NULL, 0, false));
    tg_tensor *grads[3];
    tg_tensor *wrt[3] = {f->w, x, unused};
    assert_int_equal(tg_grad(f->t, 1, &loss, NULL, 3, wrt, grads, &(tg_grad_opts){.materialize_grads = true}),
                     TG_OK);
    ASSERT_VALUES(grads[0], 1e-12, 7, 7, 7);             /* sum(x^3) = 8 - 1 */
    ASSERT_VALUES(grads[1], 1e-12, -0.5 * 12, -0.5 * 3); /* sum(w) 3x^2 */
    assert_shape(grads[2], SHAPE(2, 2));
    ASSERT_VALUES(grads[2], 0, 0, 0, 0, 0);
    ASSERT_VALUES(f->w->grad, 0, 0, 0, 0);
    assert_null(x->grad);
    assert_null(unused->grad);
}

static void test_grad_with_respect_to_a_tensor_that_needs_no_gradient_is_an_error(void **state) {
    fixture *f = *state;
    /* y = sum(x * c) depends on c, but c was never marked: zeros would be wrong */
    tg_tensor *x = T64(f->t, SHAPE(2), 1, 2), *c = T64(f->t, SHAPE(2), 3, 4);
    assert_int_equal(tg_requires_grad(x), TG_OK);
    tg_tensor *y = tg_sum(f->t, tg_mul(f->t, x, c), NULL, 0, false), *g[2];
    tg_grad_opts zeros = {.materialize_grads = true}; /* even so: zeros would be wrong */
    assert_int_equal(tg_grad(f->t, 1, &y, NULL, 2, (tg_tensor *[]){x, c}, g, &zeros), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "tg_grad: input 1");
    assert_error_mentions(tg_last_error(), "f64[2]");
    assert_error_mentions(tg_last_error(), "does not require a gradient");
    assert_error_mentions(tg_last_error(), "tg_requires_grad");
    assert_null(g[0]);
    assert_null(g[1]);
    assert_int_equal(tg_tape_status(f->t), TG_OK); /* not sticky: the tape goes on */
    assert_int_equal(tg_grad(f->t, 1, &y, NULL, 1, &x, g, NULL), TG_OK);
    ASSERT_VALUES(g[0], 0, 3, 4);
}

static void test_grad_of_an_unused_input_is_an_error_unless_allowed_like_pytorch(void **state) {
    fixture *f = *state;
    tg_tensor *x = T64(f->t, SHAPE(2), 1, 2), *unused = T64(f->t, SHAPE(3), 1, 1, 1);
    assert_int_equal(tg_requires_grad(x), TG_OK);
    assert_int_equal(tg_requires_grad(unused), TG_OK);
    tg_tensor *y = tg_sum(f->t, tg_square(f->t, x), NULL, 0, false), *g[2];
    tg_tensor *wrt[2] = {x, unused};
    tg_grad_opts retain = {.retain_graph = true};
    assert_int_equal(tg_grad(f->t, 1, &y, NULL, 2, wrt, g, &retain), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "tg_grad: input 1 (f64[3]) was not used");
    assert_error_mentions(tg_last_error(), "allow_unused");
    assert_null(g[0]);
    assert_null(g[1]);
    assert_int_equal(tg_tape_status(f->t), TG_OK);

    assert_int_equal(tg_grad(f->t, 1, &y, NULL, 2, wrt, g, &(tg_grad_opts){.retain_graph = true, .allow_unused = true}),
                     TG_OK);
    ASSERT_VALUES(g[0], 1e-15, 2, 4);
    assert_null(g[1]);

    assert_int_equal(tg_grad(f->t, 1, &y, NULL, 2, wrt, g, &(tg_grad_opts){.materialize_grads = true}), TG_OK);
    ASSERT_VALUES(g[0], 1e-15, 2, 4);
    assert_shape(g[1], SHAPE(3));
    ASSERT_VALUES(g[1], 0, 0, 0, 0);
}

static void test_grad_with_several_outputs_sums_their_gradients(void **state) {
    fixture *f = *state;
    tg_tensor *x = T64(f->t, SHAPE(2), 2, -1);
    assert_int_equal(tg_requires_grad(x), TG_OK);
    tg_tensor *outs[2] = {tg_square(f->t, x), tg_sum(f->t, tg_mul_scalar(f->t, x, 3.0), NULL, 0, false)};
    tg_tensor *gouts[2] = {T64(f->t, SHAPE(2), 1, 10), NULL};
    tg_tensor *g;
    assert_int_equal(tg_grad(f->t, 2, outs, gouts, 1, &x, &g, NULL), TG_OK);
    ASSERT_VALUES(g, 1e-12, 2 * 2 * 1 + 3, 2 * -1 * 10 + 3);
}

static void test_create_graph_gives_the_second_derivative_of_a_cube(void **state) {
    fixture *f = *state;
    tg_tensor *x = T64(f->t, SHAPE(3), 1, 2, -3);
    assert_int_equal(tg_requires_grad(x), TG_OK);
    tg_tensor *y = tg_sum(f->t, tg_mul(f->t, tg_mul(f->t, x, x), x), NULL, 0, false);
    tg_tensor *dy;
    assert_int_equal(tg_grad(f->t, 1, &y, NULL, 1, &x, &dy, &(tg_grad_opts){.create_graph = true}), TG_OK);
    ASSERT_VALUES(dy, 1e-12, 3, 12, 27); /* 3x^2 */
    assert_true(dy->requires_grad);
    tg_tensor *s = tg_sum(f->t, dy, NULL, 0, false), *d2y;
    assert_int_equal(tg_grad(f->t, 1, &s, NULL, 1, &x, &d2y, NULL), TG_OK);
    ASSERT_VALUES(d2y, 1e-12, 6, 12, -18); /* 6x */
    assert_null(x->grad);
}

static void test_create_graph_through_pow_scalar_and_backward(void **state) {
    fixture *f = *state;
    tg_tensor *x = T64(f->t, SHAPE(2), 0.5, 4);
    assert_int_equal(tg_requires_grad(x), TG_OK);
    tg_tensor *y = tg_sum(f->t, tg_pow_scalar(f->t, x, 3.0), NULL, 0, false), *dy;
    assert_int_equal(tg_grad(f->t, 1, &y, NULL, 1, &x, &dy, &(tg_grad_opts){.create_graph = true}), TG_OK);
    /* gradient penalty style: backward of sum(dy^2) = sum(9 x^4) -> 36 x^3 into x->grad */
    tg_tensor *penalty = tg_sum(f->t, tg_square(f->t, dy), NULL, 0, false);
    assert_int_equal(tg_backward(f->t, penalty, NULL), TG_OK);
    ASSERT_VALUES(x->grad, 1e-9, 36 * 0.125, 36 * 64.0);
}

static void test_a_tensor_used_twice_gets_both_contributions(void **state) {
    fixture *f = *state;
    tg_tensor *loss = tg_sum(f->t, tg_mul(f->t, f->w, f->w), NULL, 0, false);
    assert_int_equal(tg_backward(f->t, loss, NULL), TG_OK);
    ASSERT_VALUES(f->w->grad, 0, 2, -4, 1);
}

static void test_diamond_graph_sums_both_paths(void **state) {
    fixture *f = *state;
    /* h = 3w; L = sum(exp(h) * sin(h))  =>  dL/dw = 3 e^h (sin h + cos h) */
    tg_tensor *h = tg_mul_scalar(f->t, f->w, 3.0);
    tg_tensor *loss = tg_sum(f->t, tg_mul(f->t, tg_exp(f->t, h), tg_sin(f->t, h)), NULL, 0, false);
    assert_int_equal(tg_backward(f->t, loss, NULL), TG_OK);
    double expected[3];
    for (int i = 0; i < 3; i++) {
        double hv = 3 * tg_get(f->w, i);
        expected[i] = 3 * exp(hv) * (sin(hv) + cos(hv));
    }
    assert_values(f->w->grad, expected, 3, 1e-10);
}

static void test_deep_diamond_of_shared_intermediates(void **state) {
    fixture *f = *state;
    /* a = w+1, b = a*a, c = a*b (= a^3), L = sum(b + c)  =>  dL/dw = 2a + 3a^2 */
    tg_tensor *a = tg_add_scalar(f->t, f->w, 1.0);
    tg_tensor *b = tg_mul(f->t, a, a);
    tg_tensor *c = tg_mul(f->t, a, b);
    tg_tensor *loss = tg_sum(f->t, tg_add(f->t, b, c), NULL, 0, false);
    assert_int_equal(tg_backward(f->t, loss, NULL), TG_OK);
    /* a = {2, -1, 1.5} */
    ASSERT_VALUES(f->w->grad, 1e-12, 4 + 12, -2 + 3, 3 + 6.75);
}

static void test_broadcast_bias_gradient_sums_over_the_batch(void **state) {
    fixture *f = *state;
    /* x [N=2, C=3] + bias [C]; L = sum(g * (x + bias)) => dbias = column sums of g, dx = g */
    tg_tensor *x = T64(f->t, SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    assert_int_equal(tg_requires_grad(x), TG_OK);
    tg_tensor *y = tg_add(f->t, x, f->w);
    assert_shape(y, SHAPE(2, 3));
    tg_tensor *g = T64(f->t, SHAPE(2, 3), 0.5, 1, -1, 2, 3, 4);
    assert_int_equal(tg_backward(f->t, y, &(tg_backward_opts){.grad_output = g}), TG_OK);
    assert_shape(f->w->grad, SHAPE(3));
    ASSERT_VALUES(f->w->grad, 0, 2.5, 4, 3);
    ASSERT_VALUES(x->grad, 0, 0.5, 1, -1, 2, 3, 4);
}

static void test_broadcast_column_gradient_sums_over_the_row(void **state) {
    fixture *f = *state;
    tg_tensor *col = T64(f->t, SHAPE(2, 1), 2, 3);
    tg_tensor *row = T64(f->t, SHAPE(1, 3), 1, 10, 100);
    assert_int_equal(tg_requires_grad(col), TG_OK);
    assert_int_equal(tg_requires_grad(row), TG_OK);
    tg_tensor *loss = tg_sum(f->t, tg_mul(f->t, col, row), NULL, 0, false);
    assert_int_equal(tg_backward(f->t, loss, NULL), TG_OK);
    assert_shape(col->grad, SHAPE(2, 1));
    assert_shape(row->grad, SHAPE(1, 3));
    ASSERT_VALUES(col->grad, 0, 111, 111);
    ASSERT_VALUES(row->grad, 0, 5, 5, 5);
}

static void test_constant_inputs_get_no_grad_and_need_no_work(void **state) {
    fixture *f = *state;
    tg_tensor *c = T64(f->t, SHAPE(3), 1, 1, 1);
    tg_tensor *loss = tg_sum(f->t, tg_mul(f->t, c, f->w), NULL, 0, false);
    assert_int_equal(tg_backward(f->t, loss, NULL), TG_OK);
    assert_null(c->grad);
    assert_false(c->requires_grad);
    ASSERT_VALUES(f->w->grad, 0, 1, 1, 1);
}

static void test_independent_graphs_on_one_tape_can_be_backwarded_in_any_order(void **state) {
    fixture *f = *state;
    tg_tensor *loss1 = tg_sum(f->t, tg_mul_scalar(f->t, f->w, 2.0), NULL, 0, false);
    tg_tensor *loss2 = tg_sum(f->t, tg_mul_scalar(f->t, f->w, 3.0), NULL, 0, false); /* recorded later */
    assert_int_equal(tg_backward(f->t, loss2, NULL), TG_OK);
    assert_int_equal(tg_backward(f->t, loss1, NULL), TG_OK); /* loss2's pass released none of loss1's nodes */
    ASSERT_VALUES(f->w->grad, 0, 5, 5, 5);
}

static void test_output_modified_in_place_after_forward_fails_backward(void **state) {
    fixture *f = *state;
    tg_tensor *e = tg_exp(f->t, f->w); /* exp's backward reads its output */
    tg_tensor *seed = T64(f->t, SHAPE(3), 1, 1, 1);
    tg_set(e, 0, 0.0);
    tg_tensor_bump_version(e);
    assert_int_equal(tg_backward(f->t, e, &(tg_backward_opts){.grad_output = seed}), TG_ERR_STATE);
    assert_error_mentions(tg_tape_error(f->t), "output");
    assert_error_mentions(tg_tape_error(f->t), "'exp'");
    assert_error_mentions(tg_tape_error(f->t), "modified in place");
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_scalar_root_is_seeded_with_one),
        T(test_scalar_root_of_shape_one_by_one_is_seeded_with_one),
        T(test_non_scalar_root_needs_grad_output),
        T(test_grad_output_of_another_shape_is_an_error),
        T(test_gradients_accumulate_across_backward_passes_until_zero_grad),
        T(test_tape_tensors_marked_with_requires_grad_get_a_grad),
        T(test_backward_twice_without_retain_graph_is_an_error),
        T(test_backward_through_a_released_intermediate_is_an_error),
        T(test_retain_graph_allows_a_second_backward_that_accumulates),
        T(test_parameter_bumped_after_forward_fails_backward_naming_it),
        T(test_sgd_step_between_forward_and_backward_fails_backward),
        T(test_root_computed_with_recording_off_is_an_error),
        T(test_root_of_constants_only_is_an_error),
        T(test_null_root_is_an_error),
        T(test_root_of_another_tape_is_an_error),
        T(test_grad_output_of_another_tape_is_named_as_the_grad_output),
        T(test_backward_refuses_a_tape_with_an_earlier_error_and_repeats_it),
        T(test_grad_returns_gradients_and_leaves_grad_alone),
        T(test_grad_of_an_unused_input_is_an_error_unless_allowed_like_pytorch),
        T(test_grad_with_respect_to_a_tensor_that_needs_no_gradient_is_an_error),
        T(test_grad_with_several_outputs_sums_their_gradients),
        T(test_create_graph_gives_the_second_derivative_of_a_cube),
        T(test_create_graph_through_pow_scalar_and_backward),
        T(test_a_tensor_used_twice_gets_both_contributions),
        T(test_diamond_graph_sums_both_paths),
        T(test_deep_diamond_of_shared_intermediates),
        T(test_broadcast_bias_gradient_sums_over_the_batch),
        T(test_broadcast_column_gradient_sums_over_the_row),
        T(test_constant_inputs_get_no_grad_and_need_no_work),
        T(test_independent_graphs_on_one_tape_can_be_backwarded_in_any_order),
        T(test_output_modified_in_place_after_forward_fails_backward),
#undef T
    };
    return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
