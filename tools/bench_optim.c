/* tg bench --op optim: one optimizer step over the parameters of the MLP
 * 784-256-256-10 with batchnorm after both hidden layers (fc weights and
 * biases, bn weights and biases: 270,346 values), gradients fixed:
 *
 *   sgd    SGD lr 0.05, momentum 0.9 (PyTorch: SGD(momentum=0.9))
 *   adam   Adam with PyTorch's defaults
 *
 * The first steps warm up (state buffers are created); the median and the
 * best of the rest are reported. tools/bench_optim.py runs the same steps
 * with torch.optim beside it. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include "tools/bench_optim.h"
#include "tools/timing.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { WARMUP = 3, MIN_REPS = 20, MAX_REPS = 100000 };

static tg_params *mlp_params(tg_dtype dtype) {
    static const int64_t sizes[4] = {784, 256, 256, 10};
    tg_params *p = tg_params_new();
    tg_rng rng = tg_rng_new(1);
    for (int l = 0; p && l < 3; l++) {
        char name[32];
        snprintf(name, sizeof name, "fc%d.weight", l + 1);
        tg_param(p, name, dtype, 2, (int64_t[]){sizes[l], sizes[l + 1]}, TG_INIT_KAIMING_UNIFORM, &rng);
        snprintf(name, sizeof name, "fc%d.bias", l + 1);
        tg_param(p, name, dtype, 1, &sizes[l + 1], TG_INIT_ZEROS, NULL);
        if (l == 2) break;
        snprintf(name, sizeof name, "bn%d.weight", l + 1);
        tg_param(p, name, dtype, 1, &sizes[l + 1], TG_INIT_ONES, NULL);
        snprintf(name, sizeof name, "bn%d.bias", l + 1);
        tg_param(p, name, dtype, 1, &sizes[l + 1], TG_INIT_ZEROS, NULL);
    }
    for (int i = 0; i < tg_params_count(p); i++) { /* small gradients: Adam's state stays finite */
        tg_tensor *g = tg_params_at(p, i)->grad;
        for (int64_t k = 0; g && k < g->numel; k++) tg_set(g, k, 1e-3 * tg_rng_normal(&rng));
    }
    return p;
}

static int bench_one(const char *name, tg_dtype dtype, double budget, bool json) {
    tg_params *p = mlp_params(dtype);
    tg_optim *opt = NULL;
    if (p && name[0] == 's') opt = tg_sgd_new(p, (tg_sgd_opts){.lr = 0.05, .momentum = 0.9});
    if (p && name[0] == 'a') opt = tg_adam_new(p, tg_adam_defaults());
    double *times = malloc(sizeof *times * MAX_REPS);
    if (!opt || !times) {
        fprintf(stderr, "tg bench: optim %s: %s\n", name, tg_last_error());
        free(times);
        tg_optim_free(opt);
        tg_params_free(p);
        return 1;
    }
    int reps = 0;
    double start = now_seconds();
    for (int rep = 0; reps < MAX_REPS; rep++) {
        double t0 = now_seconds();
        if (tg_optim_step(opt)) {
            fprintf(stderr, "tg bench: optim %s: %s\n", name, tg_last_error());
            break;
        }
        double t1 = now_seconds();
        if (rep >= WARMUP) times[reps++] = t1 - t0;
        if (reps >= MIN_REPS && t1 - start > budget) break;
    }
    qsort(times, (size_t)reps, sizeof *times, compare_doubles);
    double median = reps ? times[reps / 2] : 0, best = reps ? times[0] : 0;
    if (json)
        printf("{\"op\": \"optim\", \"case\": \"%s\", \"dtype\": \"%s\", \"numel\": %lld, \"threads\": %d, "
               "\"seconds\": %.9f, \"best\": %.9f}\n",
               name, tg_dtype_name(dtype), (long long)tg_params_numel(p), tg_get_num_threads(), median, best);
    else
        printf("%-6s %-4s %lld values: %8.1f us per step (median of %d, best %.1f us)\n", name, tg_dtype_name(dtype),
               (long long)tg_params_numel(p), median * 1e6, reps, best * 1e6);
    fflush(stdout);
    free(times);
    tg_optim_free(opt);
    tg_params_free(p);
    return reps ? 0 : 1;
}

int tg_bench_optim(tg_dtype dtype, double budget, bool json) {
    return bench_one("sgd", dtype, budget, json) | bench_one("adam", dtype, budget, json);
}
