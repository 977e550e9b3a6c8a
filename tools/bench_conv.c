/* tg bench --op conv: conv2d and max_pool2d on the layers of a small
 * Fashion-MNIST CNN at batch 128 (conv 3x3 1->32 on 28x28 and 32->64 on
 * 14x14, padding 1; 2x2 max pooling after each). Each case: the best time of
 * the forward pass alone, then of forward + backward (the input's gradient
 * too where a network needs it), recording on, the tape reset between
 * repetitions; the inputs are copied onto the tape outside the timed part.
 * Then whole training steps of the CNN those layers come from. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <sys/resource.h>

#include "tapegrad.h"
#include "tools/commands.h"

typedef struct {
    const char *name;
    bool pool;         /* max_pool2d 2x2 instead of a convolution */
    int64_t x[4];      /* input [N, C, H, W] */
    int64_t out_channels;
    bool input_grad;   /* backward computes dx too (not for the network's input layer) */
} conv_case;

static const conv_case cases[] = {
    {"conv1 3x3 1->32 28x28", false, {128, 1, 28, 28}, 32, false},
    {"conv2 3x3 32->64 14x14", false, {128, 32, 14, 14}, 64, true},
    {"max_pool 2x2 32x28x28", true, {128, 32, 28, 28}, 0, true},
    {"max_pool 2x2 64x14x14", true, {128, 64, 14, 14}, 0, true},
};

static long peak_rss_kb(void) {
    struct rusage usage;
    return getrusage(RUSAGE_SELF, &usage) == 0 ? usage.ru_maxrss : -1;
}

/* The case's forward (and backward) on tape t; x, w, b, g are copied in. */
static tg_tensor *run_case(tg_tape *t, const conv_case *c, tg_tensor *x, tg_tensor *w, tg_tensor *b) {
    if (c->pool) return tg_max_pool2d(t, x, (tg_pool2d_opts){.kernel = {2, 2}});
    return tg_conv2d(t, x, w, b, (tg_conv2d_opts){.padding = {1, 1}});
}

/* Best seconds of the forward alone and of forward + backward, each timed for
 * about `budget` seconds. */
static int time_case(const conv_case *c, tg_dtype dtype, double budget, double best[2]) {
    tg_params *p = tg_params_new();
    tg_tape *data = tg_tape_new(), *t = tg_tape_new();
    if (!p || !data || !t) return 1;
    tg_rng rng = tg_rng_new(1);
    tg_tensor *w = NULL, *b = NULL;
    if (!c->pool) {
        w = tg_param(p, "w", dtype, 4, (int64_t[]){c->out_channels, c->x[1], 3, 3}, TG_INIT_KAIMING_UNIFORM, &rng);
        b = tg_param(p, "b", dtype, 1, &c->out_channels, TG_INIT_ZEROS, &rng);
    }
    tg_tensor *x_data = tg_uniform(data, &rng, dtype, 4, c->x, -1, 1);
    tg_tape_set_grad_enabled(data, false);
    tg_tensor *y_shape = x_data ? run_case(data, c, x_data, w, b) : NULL;
    tg_tensor *g_data = y_shape ? tg_uniform(data, &rng, dtype, 4, y_shape->shape, -1, 1) : NULL;
    int status = g_data ? 0 : 1;
    for (int backward = 0; backward < 2 && !status; backward++) {
        best[backward] = 1e30;
        double start = tg_bench_now();
        for (int rep = 0;; rep++) {
            tg_tape_reset(t);
            tg_zero_grad(p);
            tg_tensor *x = tg_detach(t, x_data), *g = tg_detach(t, g_data);
            if (c->input_grad) tg_requires_grad(x);
            double t0 = tg_bench_now();
            tg_tensor *y = run_case(t, c, x, w, b);
            if (!y || (backward && tg_backward(t, y, &(tg_backward_opts){.grad_output = g}) != TG_OK)) {
                status = 1;
                break;
            }
            double t1 = tg_bench_now();
            if (rep >= 3 && t1 - t0 < best[backward]) best[backward] = t1 - t0;
            if (rep >= 13 && t1 - start > budget) break;
        }
    }
    if (status) fprintf(stderr, "tg bench: %s: %s\n", c->name, tg_last_error());
    tg_tape_free(t);
    tg_tape_free(data);
    tg_params_free(p);
    return status;
}

/* One training step of `tg train --model cnn`'s network (conv 3x3 32 -> BN ->
 * relu -> max pool -> conv 3x3 64 -> BN -> relu -> max pool -> linear 128 ->
 * relu -> dropout 0.25 -> linear 10) at batch 128: cross-entropy plus L2
 * 1e-4, backward, SGD momentum 0.9, as tg train runs it; best[0] the forward
 * pass with the loss, best[1] the whole step. A Fashion-MNIST epoch is 469
 * such steps. */
static int time_cnn_step(tg_dtype dtype, double budget, double best[2]) {
    enum { BATCH = 128 };
    tg_cnn_opts arch = {.channels = 1, .height = 28, .width = 28, .conv = {32, 64}, .n_conv = 2, .hidden = {128},
                        .n_hidden = 1, .outputs = 10, .batchnorm = true, .dropout = 0.25, .dtype = dtype};
    tg_model *m = tg_cnn_new(&arch, 42);
    tg_tape *data = m ? tg_tape_new() : NULL, *t = data ? tg_tape_new() : NULL;
    tg_optim *opt = t ? tg_sgd_new(m->params, (tg_sgd_opts){.lr = 0.05, .momentum = 0.9}) : NULL;
    tg_rng rng = tg_rng_new(1);
    tg_tensor *x_data = opt ? tg_uniform(data, &rng, dtype, 2, (int64_t[]){BATCH, 784}, -1, 1) : NULL;
    int64_t labels[BATCH];
    for (int i = 0; i < BATCH; i++) labels[i] = (int64_t)tg_rng_below(&rng, 10);
    int status = x_data ? 0 : 1;
    for (int backward = 0; backward < 2 && !status; backward++) {
        best[backward] = 1e30;
        double start = tg_bench_now();
        for (int rep = 0;; rep++) {
            double t0 = tg_bench_now();
            tg_tensor *logits = m->forward(t, m, tg_detach(t, x_data), true);
            tg_tensor *loss = tg_add(t, tg_cross_entropy(t, logits, BATCH, labels), tg_l2_penalty(t, m->params, 1e-4));
            if (!loss) status = 1;
            if (!status && backward) {
                tg_zero_grad(m->params);
                status = tg_backward(t, loss, NULL) != TG_OK || tg_optim_step(opt) != TG_OK;
            }
            if (status) break;
            tg_tape_reset(t);
            double t1 = tg_bench_now();
            if (rep >= 3 && t1 - t0 < best[backward]) best[backward] = t1 - t0;
            if (rep >= 13 && t1 - start > budget) break;
        }
    }
    if (status) fprintf(stderr, "tg bench: cnn step: %s\n", t ? tg_tape_error(t) : tg_last_error());
    tg_optim_free(opt);
    tg_tape_free(t);
    tg_tape_free(data);
    tg_model_free(m);
    return status;
}

int tg_bench_conv(tg_dtype dtype, double budget, bool json) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const conv_case *c = &cases[i];
        double best[2];
        if (time_case(c, dtype, budget, best)) return 1;
        /* forward: 2 N Cout Cin 9 H W flops (padding 1 keeps H, W); backward: twice that, once without dx */
        double flops = c->pool ? 0 : 2.0 * 9 * (double)(c->x[0] * c->out_channels * c->x[1] * c->x[2] * c->x[3]);
        double total = flops * (c->input_grad ? 3 : 2);
        if (json)
            printf("{\"op\": \"conv\", \"case\": \"%s\", \"dtype\": \"%s\", \"pool\": %d, \"x\": [%lld, %lld, %lld, "
                   "%lld], \"out_channels\": %lld, \"input_grad\": %d, \"threads\": %d, \"kernel\": \"%s\", "
                   "\"forward_seconds\": %.9f, \"seconds\": %.9f, \"peak_rss_kb\": %ld}\n",
                   c->name, tg_dtype_name(dtype), c->pool, (long long)c->x[0], (long long)c->x[1],
                   (long long)c->x[2], (long long)c->x[3], (long long)c->out_channels, c->input_grad,
                   tg_get_num_threads(), tg_matmul_kernel_name(), best[0], best[1], peak_rss_kb());
        else if (c->pool)
            printf("%-24s %-4s forward %8.3f ms   forward+backward %8.3f ms\n", c->name, tg_dtype_name(dtype),
                   best[0] * 1e3, best[1] * 1e3);
        else
            printf("%-24s %-4s forward %8.3f ms (%6.1f GFLOP/s)   forward+backward %8.3f ms (%6.1f GFLOP/s)\n",
                   c->name, tg_dtype_name(dtype), best[0] * 1e3, flops / best[0] * 1e-9, best[1] * 1e3,
                   total / best[1] * 1e-9);
        fflush(stdout);
    }
    double step[2];
    if (time_cnn_step(dtype, budget, step)) return 1;
    if (json)
        printf("{\"op\": \"conv\", \"case\": \"cnn training step\", \"dtype\": \"%s\", \"cnn\": 1, \"threads\": %d, "
               "\"kernel\": \"%s\", \"forward_seconds\": %.9f, \"seconds\": %.9f, \"peak_rss_kb\": %ld}\n",
               tg_dtype_name(dtype), tg_get_num_threads(), tg_matmul_kernel_name(), step[0], step[1], peak_rss_kb());
    else
        printf("%-24s %-4s forward %8.3f ms   whole step %8.3f ms (an epoch of 469 steps: %.1f s)\n",
               "cnn training step", tg_dtype_name(dtype), step[0] * 1e3, step[1] * 1e3, step[1] * 469);
    if (!json) printf("peak RSS %ld KiB\n", peak_rss_kb());
    return 0;
}
