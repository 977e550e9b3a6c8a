/* tg bench: times kernels on fixed shapes and prints GFLOP/s (or JSON for
 * tools/bench_matmul.py, which sets the numbers beside PyTorch's and NumPy's).
 * Each case: warm-up calls, then the minimum over repetitions, recording off,
 * the tape reset between repetitions. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tapegrad.h"
#include "tools/bench_engine.h"
#include "tools/bench_optim.h"
#include "tools/commands.h"
#include "tools/options.h"

typedef struct {
    const char *name;
    int64_t M, K, N;
    bool ta, tb;
} matmul_case;

/* The products of an MLP 784-H-H-10 (H = 256, 512) training step at batch
 * 128 and 256: forward x@W [B,in]@[in,out], backward G@W^T [B,out]@[in,out]^T
 * and X^T@G [B,in]^T@[B,out]; the forward shapes of 784-512-512-10 at batch
 * 256 again with every transpose flag (same product, operands stored
 * transposed); square sizes. */
static const matmul_case matmul_cases[] = {
#define MLP_LAYER(B, H, L, IN, OUT)                                                 \
    {"h" #H " b" #B " fc" #L " x@W", B, IN, OUT, false, false},                    \
        {"h" #H " b" #B " fc" #L " G@W^T", B, OUT, IN, false, true},               \
        {"h" #H " b" #B " fc" #L " X^T@G", IN, B, OUT, true, false},
#define MLP(B, H) MLP_LAYER(B, H, 1, 784, H) MLP_LAYER(B, H, 2, H, H) MLP_LAYER(B, H, 3, H, 10)
    MLP(128, 256) MLP(128, 512) MLP(256, 256) MLP(256, 512)
#undef MLP
#undef MLP_LAYER
    {"h512 b256 fc1 x@W bT", 256, 784, 512, false, true},
    {"h512 b256 fc1 x@W aT", 256, 784, 512, true, false},
    {"h512 b256 fc1 x@W aT bT", 256, 784, 512, true, true},
    {"h512 b256 fc2 x@W bT", 256, 512, 512, false, true},
    {"h512 b256 fc2 x@W aT", 256, 512, 512, true, false},
    {"h512 b256 fc2 x@W aT bT", 256, 512, 512, true, true},
    {"h512 b256 fc3 x@W bT", 256, 512, 10, false, true},
    {"h512 b256 fc3 x@W aT", 256, 512, 10, true, false},
    {"h512 b256 fc3 x@W aT bT", 256, 512, 10, true, true},
    {"square 512", 512, 512, 512, false, false},
    {"square 512 aT", 512, 512, 512, true, false},
    {"square 512 bT", 512, 512, 512, false, true},
    {"square 512 aT bT", 512, 512, 512, true, true},
    {"square 1024", 1024, 1024, 1024, false, false},
    {"square 1024 aT", 1024, 1024, 1024, true, false},
    {"square 1024 bT", 1024, 1024, 1024, false, true},
    {"square 1024 aT bT", 1024, 1024, 1024, true, true},
    {"square 2048", 2048, 2048, 2048, false, false},
};

double tg_bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: tg bench --op matmul|mlp|data|optim|conv|dist [--dtype f32|f64|all] [--threads N] [--timed]\n"
            "                [--time SECONDS] [--json]\n"
            "       tg bench --op %s [--threads N] [--timed] [--time SECONDS] [--json]\n\n",
            tg_bench_engine_names());
    fprintf(out, 
                 "--op matmul: times tg_matmul_ex on the shapes of MLPs 784-256-256-10 and\n"
                 "784-512-512-10 at batch 128 and 256 (forward and both backward products; every\n"
                 "transpose flag at 512/256) and on square 512, 1024 and 2048, and prints the best\n"
                 "time of each and its GFLOP/s (2*M*N*K flops).\n"
                 "--op mlp: times whole training steps of the MLP 784-512-512-10 at batch 256\n"
                 "(linear, ReLU, cross-entropy, backward, SGD, tape reset) and prints the best\n"
                 "step time.\n"
                 "--op data: times loading and standardising Fashion-MNIST (when installed)\n"
                 "and gathering shuffled batches of it (u8) and of f32 arrays onto a tape.\n"
                 "--op optim: times the optimizer step alone (SGD momentum, Adam) over that\n"
                 "MLP's parameters at 784-256-256-10 with batchnorm; median step time.\n"
                 "--op dist: data-parallel training steps of that MLP on Fashion-MNIST (batch\n"
                 "128), alone or under mpirun, with the share of the allreduce; median step time\n"
                 "(tools/bench_dist.sh compares 1 process x 2 threads with 2 x 1).\n"
                 "--op conv: times conv2d and max_pool2d on the layers of a small CNN at batch\n"
                 "128 (forward alone, then forward and backward), then whole training steps of that\n"
                 "CNN (tg train --model cnn's network), and prints the best times.\n"
                 "--op scalar, mlp-bn, batchnorm, elementwise: the engine's workloads (per-op\n"
                 "overhead, an MLP with batchnorm and L2, batchnorm alone, a 16M elementwise\n"
                 "chain; see tools/bench_engine.c), f32, median step time.\n\n"
                 "  --dtype D      f32, f64 or all (default all)\n"
                 "  --threads N    OpenMP threads on every step (default: OMP_NUM_THREADS or every core)\n"
                 "  --timed        threads chosen by timing steps, as in tg train by default: N, or 1\n"
                 "                 where whole steps run faster on one thread (core/parallel.h)\n"
                 "  --time S       seconds spent timing each case (default 0.2)\n"
                 "  --json         one JSON object per line instead of a table\n");
}

/* Best seconds of one tg_matmul_ex call, timed for about `budget` seconds
 * (a and b live on another tape: each repetition views them on `work`). */
static double time_matmul(tg_tape *work, tg_tensor *a, tg_tensor *b, bool ta, bool tb, double budget) {
    double best = 1e30, start = tg_bench_now();
    for (int rep = 0;; rep++) {
        tg_tape_reset(work);
        tg_tape_set_grad_enabled(work, false);
        tg_tensor *wa = tg_detach(work, a), *wb = tg_detach(work, b);
        double t0 = tg_bench_now();
        tg_tensor *c = tg_matmul_ex(work, wa, wb, ta, tb);
        double t1 = tg_bench_now();
        if (!c) return -1;
        if (rep >= 3 && t1 - t0 < best) best = t1 - t0; /* the first calls warm up */
        if (rep >= 7 && t1 - start > budget) break;
    }
    return best;
}

static int bench_matmul(tg_dtype dtype, double budget, bool json) {
    tg_tape *data = tg_tape_new(), *work = data ? tg_tape_new() : NULL;
    if (!work) {
        fprintf(stderr, "tg bench: %s\n", tg_last_error());
        tg_tape_free(data);
        return 1;
    }
    tg_rng rng = tg_rng_new(1);
    int status = 0;
    for (size_t i = 0; i < sizeof matmul_cases / sizeof matmul_cases[0]; i++) {
        const matmul_case *mc = &matmul_cases[i];
        tg_tape_reset(data);
        int64_t sa[2] = {mc->ta ? mc->K : mc->M, mc->ta ? mc->M : mc->K};
        int64_t sb[2] = {mc->tb ? mc->N : mc->K, mc->tb ? mc->K : mc->N};
        tg_tensor *a = tg_uniform(data, &rng, dtype, 2, sa, -1, 1), *b = tg_uniform(data, &rng, dtype, 2, sb, -1, 1);
        double seconds = a && b ? time_matmul(work, a, b, mc->ta, mc->tb, budget) : -1;
        if (seconds < 0) {
            fprintf(stderr, "tg bench: %s: %s\n", mc->name, tg_last_error());
            status = 1;
            break;
        }
        double gflops = 2.0 * (double)mc->M * (double)mc->N * (double)mc->K / seconds * 1e-9;
        if (json)
            printf("{\"op\": \"matmul\", \"case\": \"%s\", \"dtype\": \"%s\", \"M\": %lld, \"K\": %lld, \"N\": %lld, "
                   "\"ta\": %d, \"tb\": %d, \"threads\": %d, \"kernel\": \"%s\", \"seconds\": %.9f, "
                   "\"gflops\": %.3f}\n",
                   mc->name, tg_dtype_name(dtype), (long long)mc->M, (long long)mc->K, (long long)mc->N, mc->ta,
                   mc->tb, tg_get_num_threads(), tg_matmul_kernel_name(), seconds, gflops);
        else
            printf("%-24s %-4s %5lld %5lld %5lld %9.1f us %8.1f GFLOP/s\n", mc->name, tg_dtype_name(dtype),
                   (long long)mc->M, (long long)mc->K, (long long)mc->N, seconds * 1e6, gflops);
        fflush(stdout);
    }
    tg_tape_free(work);
    tg_tape_free(data);
    return status;
}

/* One training step of the MLP 784-512-512-10 (ReLU, cross-entropy, SGD) at
 * batch 256: forward, backward, update, reset. Prints the best step time. */
static int bench_mlp(tg_dtype dtype, double budget, bool json) {
    enum { BATCH = 256, IN = 784, HIDDEN = 512, OUT = 10 };
    tg_params *p = tg_params_new();
    tg_tape *data = p ? tg_tape_new() : NULL, *t = data ? tg_tape_new() : NULL;
    tg_optim *opt = t ? tg_sgd_new(p, (tg_sgd_opts){.lr = 0.01}) : NULL;
    if (!opt) {
        fprintf(stderr, "tg bench: mlp: %s\n", tg_last_error());
        tg_tape_free(t);
        tg_tape_free(data);
        tg_params_free(p);
        return 1;
    }
    tg_rng rng = tg_rng_new(1);
    const int64_t sizes[4] = {IN, HIDDEN, HIDDEN, OUT};
    tg_tensor *w[3], *b[3];
    for (int l = 0; l < 3; l++) {
        char name[16];
        snprintf(name, sizeof name, "fc%d.weight", l + 1);
        w[l] = tg_param(p, name, dtype, 2, (int64_t[]){sizes[l], sizes[l + 1]}, TG_INIT_KAIMING_UNIFORM, &rng);
        snprintf(name, sizeof name, "fc%d.bias", l + 1);
        b[l] = tg_param(p, name, dtype, 1, (int64_t[]){sizes[l + 1]}, TG_INIT_ZEROS, &rng);
    }
    tg_tensor *x_data = tg_uniform(data, &rng, dtype, 2, (int64_t[]){BATCH, IN}, 0, 1);
    int64_t labels[BATCH];
    for (int i = 0; i < BATCH; i++) labels[i] = (int64_t)(tg_rng_uniform(&rng) * OUT) % OUT;
    double best = 1e30, start = tg_bench_now(), loss = 0;
    int status = 0;
    for (int rep = 0;; rep++) {
        double t0 = tg_bench_now();
        tg_tensor *h = tg_detach(t, x_data);
        for (int l = 0; l < 3; l++) {
            h = tg_linear(t, h, w[l], b[l]);
            if (l < 2) h = tg_relu(t, h);
        }
        tg_tensor *l = tg_cross_entropy(t, h, BATCH, labels);
        tg_zero_grad(p);
        if (!l || tg_backward(t, l, NULL) != TG_OK || tg_optim_step(opt) != TG_OK) {
            fprintf(stderr, "tg bench: mlp: %s\n", tg_tape_error(t));
            status = 1;
            break;
        }
        loss = tg_get(l, 0);
        tg_tape_reset(t);
        double t1 = tg_bench_now();
        if (rep >= 3 && t1 - t0 < best) best = t1 - t0;
        if (rep >= 13 && t1 - start > budget) break;
    }
    if (!status) {
        if (json)
            printf("{\"op\": \"mlp\", \"case\": \"mlp step\", \"dtype\": \"%s\", \"batch\": %d, \"threads\": %d, "
                   "\"kernel\": \"%s\", \"seconds\": %.9f, \"loss\": %.6f}\n",
                   tg_dtype_name(dtype), BATCH, tg_get_num_threads(), tg_matmul_kernel_name(), best, loss);
        else
            printf("%-18s %-4s batch %d: %9.3f ms per step (forward, backward, SGD)\n", "mlp 784-512-512-10",
                   tg_dtype_name(dtype), BATCH, best * 1e3);
    }
    tg_optim_free(opt);
    tg_tape_free(t);
    tg_tape_free(data);
    tg_params_free(p);
    return status;
}

int tg_cmd_bench(int argc, char **argv) {
    const char *op = NULL, *dtypes = "all";
    double budget = 0.2;
    bool json = false, timed = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (tg_flag(argv[i], "--help") || tg_flag(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if ((v = tg_option(argc, argv, &i, "--op"))) {
            op = v;
        } else if ((v = tg_option(argc, argv, &i, "--dtype"))) {
            dtypes = v;
        } else if ((v = tg_option(argc, argv, &i, "--threads"))) {
            int64_t threads;
            if (!tg_parse_int("tg bench", "--threads", v, 1, 1024, &threads)) return 2;
            tg_set_num_threads((int)threads);
        } else if (tg_flag(argv[i], "--timed")) {
            timed = true;
        } else if ((v = tg_option(argc, argv, &i, "--time"))) {
            if (!tg_parse_number("tg bench", "--time", v, 0.001, 3600, &budget)) return 2;
        } else if (tg_flag(argv[i], "--json")) {
            json = true;
        } else {
            fprintf(stderr, "tg bench: unknown option '%s' (or its value is missing)\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    tg_set_thread_choice_by_timing(timed); /* a benchmark times one thread count unless asked */
    bool f32 = strcmp(dtypes, "f32") == 0 || strcmp(dtypes, "all") == 0;
    bool f64 = strcmp(dtypes, "f64") == 0 || strcmp(dtypes, "all") == 0;
    bool mlp = op && strcmp(op, "mlp") == 0, data = op && strcmp(op, "data") == 0;
    bool optim = op && strcmp(op, "optim") == 0, dist = op && strcmp(op, "dist") == 0;
    bool conv = op && strcmp(op, "conv") == 0;
    if (op && tg_bench_engine_has(op) && budget > 0) {
        if (!json) printf("tg bench: %s, %d threads%s\n\n", op, tg_get_num_threads(), timed ? ", timed" : "");
        return tg_bench_engine(op, budget, json);
    }
    if (!op || (!mlp && !data && !optim && !dist && !conv && strcmp(op, "matmul") != 0) || !(f32 || f64) ||
        !(budget > 0)) {
        fprintf(stderr, "tg bench: need --op matmul|mlp|data|optim|conv|dist|%s, --dtype f32|f64|all and --time > 0\n",
                tg_bench_engine_names());
        usage(stderr);
        return 2;
    }
    if (!json)
        printf("tg bench: %s, %d threads, %s matmul kernel; best of repeated calls\n\n", op, tg_get_num_threads(),
               tg_matmul_kernel_name());
    int (*bench)(tg_dtype, double, bool) = mlp     ? bench_mlp
                                           : data  ? tg_bench_data
                                           : optim ? tg_bench_optim
                                           : dist  ? tg_bench_dist
                                           : conv  ? tg_bench_conv
                                                   : bench_matmul;
    int status = 0;
    if (f32) status |= bench(TG_F32, budget, json);
    if (f64 && !status) status |= bench(TG_F64, budget, json);
    return status;
}
