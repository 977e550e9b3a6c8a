/* A local gradient check for the op tests: the gradients tg_backward gives
 * against central differences in f64.
 *
 *   L(inputs) = sum_k w_k * f(inputs)_k,   w_k = 0.75 + 0.5 cos(1.3 k)   (fixed weights,
 *   so every output element matters and with a different weight)
 *   numeric dL/dx_j = (L(x_j + eps) - L(x_j - eps)) / (2 eps),  eps = 1e-6
 *   passes when |analytic - numeric| <= atol + rtol |numeric|,  atol 1e-5, rtol 1e-3
 *
 * The analytic side seeds backward with grad_output = w, so no reduction op is
 * involved: only the op under test and the engine. */
#ifndef TG_TESTS_CENTRAL_DIFFERENCE_H
#define TG_TESTS_CENTRAL_DIFFERENCE_H

#include "testing.h"

typedef tg_tensor *(*cd_fn)(tg_tape *t, tg_tensor **in, void *user);

enum { CD_MAX_INPUTS = 4 };

static inline double cd_weight(int64_t k) { return 0.75 + 0.5 * cos(1.3 * (double)k); }

/* sum_k w_k f(in)_k with recording off, on a scratch tape */
static inline double cd_loss(tg_tape *scratch, cd_fn f, void *user, int n, tg_tensor *const *in) {
    tg_tape_reset(scratch);
    tg_tape_set_grad_enabled(scratch, false);
    tg_tensor *copies[CD_MAX_INPUTS];
    for (int i = 0; i < n; i++) copies[i] = tg_detach(scratch, in[i]);
    tg_tensor *y = f(scratch, copies, user);
    if (!y) {
        print_error("forward failed: %s\n", tg_tape_error(scratch));
        fail();
    }
    double loss = 0;
    for (int64_t k = 0; k < y->numel; k++) loss += cd_weight(k) * tg_get(y, k);
    return loss;
}

/* Checks every input whose bit is NOT set in constant_mask. Inputs must be f64
 * tensors (on any tape: they are copied). */
static inline void cd_check(cd_fn f, void *user, int n, tg_tensor *const *inputs, unsigned constant_mask) {
    const double eps = 1e-6, atol = 1e-5, rtol = 1e-3;
    assert_true(n <= CD_MAX_INPUTS);
    tg_tape *t = tg_tape_new(), *scratch = tg_tape_new();
    tg_tensor *in[CD_MAX_INPUTS];
    for (int i = 0; i < n; i++) {
        assert_non_null(inputs[i]);
        assert_int_equal(inputs[i]->dtype, TG_F64);
        in[i] = tg_detach(t, inputs[i]);
        if (!(constant_mask & (1u << i))) assert_int_equal(tg_requires_grad(in[i]), TG_OK);
    }
    tg_tensor *y = f(t, in, user);
    if (!y) {
        print_error("forward failed: %s\n", tg_tape_error(t));
        fail();
    }
    tg_tensor *w = tg_tensor_empty(t, TG_F64, y->ndim, y->shape);
    for (int64_t k = 0; k < y->numel; k++) tg_set(w, k, cd_weight(k));
    if (y->requires_grad) {
        tg_status st = tg_backward(t, y, &(tg_backward_opts){.grad_output = w});
        if (st) {
            print_error("backward failed: %s\n", tg_tape_error(t));
            fail();
        }
    }
    for (int i = 0; i < n; i++) {
        if (constant_mask & (1u << i)) continue;
        tg_tensor *probe = tg_detach(t, in[i]);
        for (int64_t j = 0; j < probe->numel; j++) {
            double x0 = tg_get(probe, j);
            tg_tensor *args[CD_MAX_INPUTS];
            for (int k = 0; k < n; k++) args[k] = k == i ? probe : in[k];
            tg_set(probe, j, x0 + eps);
            double up = cd_loss(scratch, f, user, n, args);
            tg_set(probe, j, x0 - eps);
            double down = cd_loss(scratch, f, user, n, args);
            tg_set(probe, j, x0);
            double numeric = (up - down) / (2 * eps);
            double analytic = in[i]->grad ? tg_get(in[i]->grad, j) : 0.0;
            if (!(fabs(analytic - numeric) <= atol + rtol * fabs(numeric))) {
                print_error("input %d element %lld: backward gives %.10g, central difference %.10g\n", i,
                            (long long)j, analytic, numeric);
                fail();
            }
        }
    }
    tg_tape_free(scratch);
    tg_tape_free(t);
}

/* Second order: cd_check(cd_first_derivative, &(cd_derivative){f, user, n, wrt, mask}, ...)
 * checks the gradient of  g = d(sum_k w_k f_k)/d in[wrt]  (computed by tg_grad
 * with create_graph, so the backward rules are themselves differentiated). */
typedef struct {
    cd_fn f;
    void *user;
    int n, wrt;
    unsigned constant_mask;
} cd_derivative;

static inline tg_tensor *cd_first_derivative(tg_tape *t, tg_tensor **in, void *user) {
    const cd_derivative *d = user;
    bool was = tg_tape_set_grad_enabled(t, true); /* cd_loss turns recording off */
    for (int i = 0; i < d->n; i++)
        if (!(d->constant_mask & (1u << i)) && !in[i]->requires_grad) tg_requires_grad(in[i]);
    tg_tensor *y = d->f(t, in, d->user), *g = NULL;
    if (y) {
        tg_tensor *w = tg_tensor_empty(t, y->dtype, y->ndim, y->shape);
        for (int64_t k = 0; w && k < w->numel; k++) tg_set(w, k, 1.0 + 0.25 * sin((double)k));
        tg_grad(t, 1, &y, &w, 1, &in[d->wrt], &g, &(tg_grad_opts){.create_graph = true, .materialize_grads = true});
    }
    tg_tape_set_grad_enabled(t, was);
    return g;
}

/* A tensor of dtype dt from doubles (the tests write every value once). */
static inline tg_tensor *tensor_of(tg_tape *t, tg_dtype dt, int ndim, const int64_t *shape, const double *values) {
    tg_tensor *x = tg_tensor_empty(t, dt, ndim, shape);
    for (int64_t i = 0; x && i < x->numel; i++) tg_set(x, i, values[i]);
    return x;
}
#define TENSOR(tape, dt, ndim_shape, ...) tensor_of((tape), (dt), ndim_shape, (const double[]){__VA_ARGS__})

#endif
