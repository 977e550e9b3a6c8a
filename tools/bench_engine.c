/* tg bench's engine workloads: what a training step costs beyond its matmuls.
 *
 *   scalar       y = tanh(y * 1.0001 + 0.0001) repeated, 0-d f32: 100k ops
 *                recorded, then one backward pass (per-op overhead)
 *   mlp-bn       MLP 784-256-256-10, batchnorm and ReLU after each hidden
 *                linear layer, cross-entropy + L2 penalty (lambda 1e-4, every
 *                trainable parameter), SGD momentum 0.9, batch 128: one step
 *   batchnorm    training-mode batchnorm of x [256,1024] and backward with a
 *                given grad_output (x, gamma and beta get gradients)
 *   elementwise  y = relu(x * a + b), x [16M] and scalars a, b all trainable,
 *                and backward with a given grad_output [16M], steady state
 *
 * Each repetition is a whole step: forward, backward, clearing the gradients
 * (set to none, like PyTorch's zero_grad(set_to_none=True)), the SGD update
 * for mlp-bn, tape reset. The forward passes of mlp-bn and elementwise run in
 * a fusion scope (ops/fusion.h), as a user after speed writes them; batchnorm
 * and the L2 penalty fuse by themselves, and every backward pass does. The first repetitions warm up
 * (the arena reaches its size); the median of the rest is reported. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include "tools/bench_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tapegrad.h"
#include "tools/timing.h"

enum { WARMUP = 2, MIN_REPS = 5, MAX_REPS = 1000 };

/* A workload: `setup` once, then `step` repeatedly; `step` returns a value to
 * print (the loss) or NaN on failure, with the message in tg_last_error(). */
typedef struct workload {
    const char *name;
    const char *description;
    tg_status (*setup)(void **state);
    double (*step)(void *state);
    void (*teardown)(void *state);
    double ops; /* the per-op unit of the scalar chain (0: per step) */
} workload;

/* ---- scalar chain ---- */
enum { CHAIN_ITERATIONS = 33334 }; /* 3 ops each: 100,002 ops */

typedef struct {
    tg_params *p;
    tg_tape *t;
    tg_tensor *y0;
} scalar_state;

static tg_status scalar_setup(void **state) {
    scalar_state *s = calloc(1, sizeof *s);
    if (!s) return TG_ERR_NOMEM;
    *state = s;
    s->p = tg_params_new();
    s->t = tg_tape_new();
    s->y0 = s->p ? tg_param(s->p, "y0", TG_F32, 0, NULL, TG_INIT_ONES, NULL) : NULL;
    if (!s->t || !s->y0) return TG_ERR_NOMEM;
    tg_set(s->y0, 0, 0.5);
    return TG_OK;
}

static double scalar_step(void *state) {
    scalar_state *s = state;
    tg_tensor *y = s->y0;
    for (int i = 0; i < CHAIN_ITERATIONS; i++) y = tg_tanh(s->t, tg_add_scalar(s->t, tg_mul_scalar(s->t, y, 1.0001), 0.0001));
    tg_set_grad_to_none(s->p);
    if (!y || tg_backward(s->t, y, NULL)) return 0.0 / 0.0;
    double value = tg_item(s->y0->grad);
    tg_tape_reset(s->t);
    return value;
}

static void scalar_teardown(void *state) {
    scalar_state *s = state;
    tg_tape_free(s->t);
    tg_params_free(s->p);
    free(s);
}

/* ---- MLP with batchnorm ---- */
enum { MLP_BATCH = 128, MLP_IN = 784, MLP_HIDDEN = 256, MLP_OUT = 10 };

typedef struct {
    tg_params *p;
    tg_tape *t;
    tg_optim *opt;
    tg_tensor *w[3], *b[3];
    tg_batchnorm_state bn[2];
    tg_tensor *x;
    int64_t labels[MLP_BATCH];
} mlp_state;

static tg_status mlp_setup(void **state) {
    mlp_state *s = calloc(1, sizeof *s);
    if (!s) return TG_ERR_NOMEM;
    *state = s;
    s->p = tg_params_new();
    s->t = tg_tape_new();
    if (!s->p || !s->t) return TG_ERR_NOMEM;
    tg_rng rng = tg_rng_new(1);
    const int64_t sizes[4] = {MLP_IN, MLP_HIDDEN, MLP_HIDDEN, MLP_OUT};
    for (int l = 0; l < 3; l++) {
        char name[32];
        snprintf(name, sizeof name, "fc%d.weight", l + 1);
        s->w[l] = tg_param(s->p, name, TG_F32, 2, (int64_t[]){sizes[l], sizes[l + 1]}, TG_INIT_KAIMING_UNIFORM, &rng);
        snprintf(name, sizeof name, "fc%d.bias", l + 1);
        s->b[l] = tg_param(s->p, name, TG_F32, 1, (int64_t[]){sizes[l + 1]}, TG_INIT_ZEROS, NULL);
        if (!s->w[l] || !s->b[l]) return TG_ERR_NOMEM;
        if (l < 2) {
            snprintf(name, sizeof name, "bn%d", l + 1);
            if (tg_batchnorm_init(&s->bn[l], s->p, name, TG_F32, MLP_HIDDEN)) return TG_ERR_NOMEM;
        }
    }
    s->x = tg_buffer(s->p, "x", TG_F32, 2, (int64_t[]){MLP_BATCH, MLP_IN}, TG_INIT_UNIFORM, &rng);
    for (int i = 0; i < MLP_BATCH; i++) s->labels[i] = (int64_t)(tg_rng_uniform(&rng) * MLP_OUT) % MLP_OUT;
    s->opt = tg_sgd_new(s->p, (tg_sgd_opts){.lr = 0.01, .momentum = 0.9});
    return s->x && s->opt ? TG_OK : TG_ERR_NOMEM;
}

static double mlp_step(void *state) {
    mlp_state *s = state;
    tg_tape *t = s->t;
    tg_tensor *h = s->x;
    tg_fuse_begin(t);
    for (int l = 0; l < 3; l++) {
        h = tg_linear(t, h, s->w[l], s->b[l]);
        if (l < 2) h = tg_relu(t, tg_batchnorm(t, h, &s->bn[l], true));
    }
    tg_tensor *loss = tg_add(t, tg_cross_entropy(t, h, MLP_BATCH, s->labels), tg_l2_penalty(t, s->p, 1e-4));
    tg_set_grad_to_none(s->p);
    if (!loss || tg_fuse_end(t, 1, &loss) || tg_backward(t, loss, NULL) || tg_optim_step(s->opt)) return 0.0 / 0.0;
    double value = tg_item(loss);
    tg_tape_reset(t);
    return value;
}

static void mlp_teardown(void *state) {
    mlp_state *s = state;
    tg_optim_free(s->opt);
    tg_tape_free(s->t);
    tg_params_free(s->p);
    free(s);
}

/* ---- batchnorm alone ---- */
enum { BN_ROWS = 256, BN_CHANNELS = 1024 };

typedef struct {
    tg_params *p;
    tg_tape *t;
    tg_batchnorm_state bn;
    tg_tensor *x, *grad_output;
} bn_state;

static tg_status bn_setup(void **state) {
    bn_state *s = calloc(1, sizeof *s);
    if (!s) return TG_ERR_NOMEM;
    *state = s;
    s->p = tg_params_new();
    s->t = tg_tape_new();
    if (!s->p || !s->t || tg_batchnorm_init(&s->bn, s->p, "bn", TG_F32, BN_CHANNELS)) return TG_ERR_NOMEM;
    tg_rng rng = tg_rng_new(2);
    const int64_t shape[2] = {BN_ROWS, BN_CHANNELS};
    s->x = tg_param(s->p, "x", TG_F32, 2, shape, TG_INIT_NORMAL, &rng);
    s->grad_output = tg_buffer(s->p, "grad_output", TG_F32, 2, shape, TG_INIT_NORMAL, &rng);
    return s->x && s->grad_output ? TG_OK : TG_ERR_NOMEM;
}

static double bn_step(void *state) {
    bn_state *s = state;
    tg_tensor *y = tg_batchnorm(s->t, s->x, &s->bn, true);
    tg_set_grad_to_none(s->p);
    if (!y || tg_backward(s->t, y, &(tg_backward_opts){.grad_output = s->grad_output})) return 0.0 / 0.0;
    double value = tg_item(s->bn.gamma->grad);
    tg_tape_reset(s->t);
    return value;
}

static void bn_teardown(void *state) {
    bn_state *s = state;
    tg_tape_free(s->t);
    tg_params_free(s->p);
    free(s);
}

/* ---- relu(x * a + b) on 16M elements ---- */
enum { ELEMENTS = 16 << 20 };

typedef struct {
    tg_params *p;
    tg_tape *t;
    tg_tensor *x, *a, *b, *grad_output;
} elementwise_state;

static tg_status elementwise_setup(void **state) {
    elementwise_state *s = calloc(1, sizeof *s);
    if (!s) return TG_ERR_NOMEM;
    *state = s;
    s->p = tg_params_new();
    s->t = tg_tape_new();
    if (!s->p || !s->t) return TG_ERR_NOMEM;
    tg_rng rng = tg_rng_new(3);
    const int64_t n = ELEMENTS;
    s->x = tg_param(s->p, "x", TG_F32, 1, &n, TG_INIT_UNIFORM, &rng);
    s->a = tg_param(s->p, "a", TG_F32, 0, NULL, TG_INIT_ONES, NULL);
    s->b = tg_param(s->p, "b", TG_F32, 0, NULL, TG_INIT_ZEROS, NULL);
    s->grad_output = tg_buffer(s->p, "grad_output", TG_F32, 1, &n, TG_INIT_UNIFORM, &rng);
    if (!s->x || !s->a || !s->b || !s->grad_output) return TG_ERR_NOMEM;
    tg_set(s->a, 0, 1.5);
    tg_set(s->b, 0, 0.1);
    return TG_OK;
}

static double elementwise_step(void *state) {
    elementwise_state *s = state;
    tg_fuse_begin(s->t);
    tg_tensor *y = tg_relu(s->t, tg_add(s->t, tg_mul(s->t, s->x, s->a), s->b));
    tg_set_grad_to_none(s->p);
    if (!y || tg_fuse_end(s->t, 1, &y) || tg_backward(s->t, y, &(tg_backward_opts){.grad_output = s->grad_output}))
        return 0.0 / 0.0;
    double value = tg_item(s->a->grad);
    tg_tape_reset(s->t);
    return value;
}

static void elementwise_teardown(void *state) {
    elementwise_state *s = state;
    tg_tape_free(s->t);
    tg_params_free(s->p);
    free(s);
}

static const workload workloads[] = {
    {"scalar", "scalar chain y = tanh(y*1.0001 + 0.0001), 100k ops f32, record + backward", scalar_setup, scalar_step,
     scalar_teardown, 3.0 * CHAIN_ITERATIONS},
    {"mlp-bn", "MLP 784-256-256-10 + batchnorm + relu + L2 + cross-entropy, SGD momentum, batch 128 f32, one step",
     mlp_setup, mlp_step, mlp_teardown, 0},
    {"batchnorm", "batchnorm forward + backward, 256x1024 f32", bn_setup, bn_step, bn_teardown, 0},
    {"elementwise", "relu(x*a + b) forward + backward, 16M f32, steady state", elementwise_setup, elementwise_step,
     elementwise_teardown, 0},
};

bool tg_bench_engine_has(const char *name) {
    for (size_t i = 0; i < sizeof workloads / sizeof workloads[0]; i++)
        if (strcmp(workloads[i].name, name) == 0) return true;
    return false;
}

const char *tg_bench_engine_names(void) { return "scalar|mlp-bn|batchnorm|elementwise"; }

int tg_bench_engine(const char *name, double budget, bool json) {
    const workload *w = NULL;
    for (size_t i = 0; i < sizeof workloads / sizeof workloads[0]; i++)
        if (strcmp(workloads[i].name, name) == 0) w = &workloads[i];
    if (!w) return 2;
    void *state = NULL;
    double *times = malloc(sizeof(double) * MAX_REPS);
    tg_status st = times ? w->setup(&state) : TG_ERR_NOMEM;
    int status = 0, reps = 0;
    double value = 0, start = now_seconds();
    for (int rep = 0; !st && rep < WARMUP + MAX_REPS; rep++) {
        double t0 = now_seconds();
        value = w->step(state);
        double t1 = now_seconds();
        if (value != value) {
            st = TG_ERR_STATE;
            break;
        }
        if (rep >= WARMUP) times[reps++] = t1 - t0;
        if (reps >= MIN_REPS && t1 - start > budget) break;
    }
    if (st) {
        fprintf(stderr, "tg bench: %s: %s\n", name, tg_last_error());
        status = 1;
    } else {
        qsort(times, (size_t)reps, sizeof *times, compare_doubles);
        double median = times[reps / 2];
        if (json)
            printf("{\"op\": \"%s\", \"case\": \"%s\", \"dtype\": \"f32\", \"threads\": %d, \"reps\": %d, "
                   "\"seconds\": %.9f, \"best\": %.9f, \"per_op\": %.9f, \"value\": %.6g}\n",
                   w->name, w->description, tg_get_num_threads(), reps, median, times[0],
                   w->ops ? median / w->ops : 0.0, value);
        else if (w->ops)
            printf("%-12s %8.3f us per op, %8.3f ms per pass (median of %d): %s\n", w->name, median / w->ops * 1e6,
                   median * 1e3, reps, w->description);
        else
            printf("%-12s %8.3f ms per step (median of %d): %s\n", w->name, median * 1e3, reps, w->description);
    }
    if (state) w->teardown(state);
    free(times);
    return status;
}
