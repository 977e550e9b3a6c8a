/* tg bench --op dist: data-parallel training steps of the Fashion-MNIST MLP
 * (784-256-256-10, relu, batchnorm, global batch 128, SGD momentum, L2),
 * alone or under mpirun, split into compute, the batchnorm sums and the
 * gradient allreduce; under mpirun also the allreduce alone at a few sizes.
 * tools/bench_dist.sh alternates 1 process x 2 threads with 2 processes x 1
 * thread and prints the ratios. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tapegrad.h"
#include "tools/timing.h"
#include "tools/commands.h"

#ifndef TG_HAVE_MPI
int tg_bench_dist(tg_dtype dtype, double budget, bool json) {
    (void)dtype, (void)budget, (void)json;
    fprintf(stderr, "tg bench: --op dist: this tg was built without MPI (TG_WITH_MPI, Debian: libopenmpi-dev)\n");
    return 1;
}
#else
#include "tapegrad_dist.h"

enum { GLOBAL_BATCH = 128, WARMUP_STEPS = 10, MAX_STEPS = 4096 };

/* The dist of this run (under mpirun), finalised at exit. */
static tg_dist *dist;
static void finalize_dist(void) { tg_dist_finalize(dist); }

/* The replicas of dist, timing every sum (the batchnorm statistics and their gradients). */
static tg_replicas timed;
static double sum_seconds;
static tg_status timed_sum(void *user, tg_dtype dtype, void *data, int64_t count, bool failed) {
    double start = now_seconds();
    const tg_replicas *r = tg_dist_replicas(user);
    tg_status st = r->sum(r->user, dtype, data, count, failed);
    sum_seconds += now_seconds() - start;
    return st;
}

/* sorts v */
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Fashion-MNIST when installed, else as many random images of its shape */
static tg_dataset *images(void) {
    tg_dataset *ds = tg_dataset_fashion_mnist(NULL, true);
    if (ds) return ds;
    enum { N = 6000 };
    float *x = malloc(sizeof *x * N * 784);
    int64_t *labels = malloc(sizeof *labels * N);
    tg_rng rng = tg_rng_new(1);
    for (int64_t i = 0; x && labels && i < N * 784; i++) x[i] = (float)tg_rng_uniform(&rng);
    for (int64_t i = 0; x && labels && i < N; i++) labels[i] = i % 10;
    ds = x && labels ? tg_dataset_from(TG_F32, 2, (int64_t[]){N, 784}, x, labels, NULL, 0) : NULL;
    free(x);
    free(labels);
    return ds;
}

typedef struct {
    double step, allreduce, batchnorm;                /* medians over the timed steps, seconds */
    double best_step, best_allreduce, best_batchnorm; /* minima: the least disturbed by other work */
    int steps;
} step_times;

/* Timed data-parallel steps (the trainer's: gather this rank's share, forward,
 * cross entropy + L2, backward, average, SGD) for about `budget` seconds. */
static tg_status time_steps(tg_dtype dtype, double budget, step_times *out) {
    int rank = dist ? tg_dist_rank(dist) : 0, size = dist ? tg_dist_size(dist) : 1;
    tg_dataset *ds = images();
    if (!ds) return tg_last_status();
    timed = dist ? *tg_dist_replicas(dist) : (tg_replicas){0};
    timed.sum = timed_sum;
    timed.user = dist;
    tg_model *model = tg_mlp_new(&(tg_mlp_opts){.inputs = 784, .hidden = {256, 256}, .n_hidden = 2, .outputs = 10,
                                                .activation = TG_ACT_RELU, .batchnorm = true, .dtype = dtype,
                                                .replicas = dist ? &timed : NULL},
                                 1);
    tg_optim *opt = model ? tg_sgd_new(model->params, (tg_sgd_opts){.lr = 0.05, .momentum = 0.9}) : NULL;
    tg_rng rng = tg_rng_new(2);
    tg_batches *b = tg_batches_new(tg_dataset_len(ds), GLOBAL_BATCH, true, &rng);
    tg_tape *t = tg_tape_new();
    double *steps = malloc(sizeof(double) * 3 * MAX_STEPS);
    tg_status st = model && opt && b && t && steps ? TG_OK : tg_set_error(TG_ERR_NOMEM, "out of memory");
    double *reduce = st ? NULL : steps + MAX_STEPS, *sums = st ? NULL : steps + 2 * MAX_STEPS;
    if (!st && dist) st = tg_batches_shard(b, rank, size);
    if (!st && dist) st = tg_dist_broadcast_params(dist, model->params);
    int n = MAX_STEPS;
    double warmup_start = now_seconds();
    for (int k = 0; k < WARMUP_STEPS + n && !st; k++) {
        if (k == WARMUP_STEPS) { /* rank 0 decides how many steps fit the budget */
            double per_step = (now_seconds() - warmup_start) / WARMUP_STEPS;
            n = per_step > 0 && budget / per_step < MAX_STEPS ? (int)(budget / per_step) + 1 : MAX_STEPS;
            if (dist) MPI_Bcast(&n, 1, MPI_INT, 0, MPI_COMM_WORLD);
        }
        const int64_t *idx;
        int64_t count;
        if (!tg_batches_next(b, &idx, &count)) tg_batches_next(b, &idx, &count);
        double start = now_seconds();
        sum_seconds = 0;
        tg_tape_reset(t);
        tg_batch batch;
        st = tg_dataset_gather(t, ds, dtype, count, idx, &batch);
        tg_tensor *loss = st ? NULL : tg_cross_entropy(t, model->forward(t, model, batch.x, true), count, batch.labels);
        loss = tg_add(t, loss, tg_l2_penalty(t, model->params, 1e-4));
        tg_zero_grad(model->params);
        if (!st) st = tg_backward(t, loss, NULL);
        double reduce_start = now_seconds();
        if (!st && dist) st = tg_dist_average_grads(dist, model->params);
        double reduce_end = now_seconds();
        if (!st) st = tg_optim_step(opt);
        if (k >= WARMUP_STEPS) {
            steps[k - WARMUP_STEPS] = now_seconds() - start;
            reduce[k - WARMUP_STEPS] = reduce_end - reduce_start;
            sums[k - WARMUP_STEPS] = sum_seconds;
        }
    }
    if (!st) {
        out->step = median(steps, n), out->allreduce = median(reduce, n), out->batchnorm = median(sums, n);
        out->best_step = steps[0], out->best_allreduce = reduce[0], out->best_batchnorm = sums[0]; /* sorted */
        out->steps = n;
    }
    free(steps);
    tg_tape_free(t);
    tg_batches_free(b);
    tg_optim_free(opt);
    tg_model_free(model);
    tg_dataset_free(ds);
    return st;
}

/* Best seconds of tg_dist_sum over `bytes` of f32, about budget seconds. */
static double time_allreduce(size_t bytes, double budget) {
    int64_t count = (int64_t)(bytes / sizeof(float));
    float *data = calloc((size_t)count, sizeof *data);
    double times[256];
    int n = 0;
    double start = now_seconds();
    int more = 1;
    while (more && n < 256 && data) {
        double t0 = now_seconds();
        if (tg_dist_sum(dist, TG_F32, data, count)) break;
        times[n++] = now_seconds() - t0;
        more = now_seconds() - start < budget || n < 5;
        MPI_Bcast(&more, 1, MPI_INT, 0, MPI_COMM_WORLD); /* rank 0 decides */
    }
    free(data);
    if (!n) return -1;
    median(times, n); /* sorts */
    return times[0];
}

int tg_bench_dist(tg_dtype dtype, double budget, bool json) {
    if (!dist && tg_dist_launched()) {
        dist = tg_dist_init(NULL, NULL, NULL);
        if (!dist) {
            fprintf(stderr, "tg bench: %s\n", tg_last_error());
            return 1;
        }
        atexit(finalize_dist);
    }
    int rank = dist ? tg_dist_rank(dist) : 0, size = dist ? tg_dist_size(dist) : 1;
    step_times s = {0};
    if (time_steps(dtype, budget, &s)) {
        fprintf(stderr, "tg bench: --op dist: %s\n", tg_last_error());
        return 1;
    }
    if (rank == 0) {
        const char *name = tg_dtype_name(dtype);
        if (json)
            printf("{\"op\": \"dist\", \"case\": \"mlp step\", \"dtype\": \"%s\", \"ranks\": %d, \"threads\": %d, "
                   "\"batch\": %d, \"steps\": %d, \"step_seconds\": %.9f, \"allreduce_seconds\": %.9f, "
                   "\"batchnorm_sum_seconds\": %.9f, \"best_step_seconds\": %.9f, \"best_allreduce_seconds\": %.9f, "
                   "\"best_batchnorm_sum_seconds\": %.9f}\n",
                   name, size, tg_get_num_threads(), GLOBAL_BATCH, s.steps, s.step, s.allreduce, s.batchnorm,
                   s.best_step, s.best_allreduce, s.best_batchnorm);
        else
            printf("mlp 784-256-256-10 batchnorm %s, batch %d = %d ranks x %d, %d threads each, %d steps:\n"
                   "  median: step %.3f ms, gradient allreduce %.3f ms (%.1f%%), batchnorm sums %.3f ms (%.1f%%)\n"
                   "  best:   step %.3f ms, gradient allreduce %.3f ms (%.1f%%), batchnorm sums %.3f ms (%.1f%%)\n",
                   name, GLOBAL_BATCH, size, GLOBAL_BATCH / size, tg_get_num_threads(), s.steps, 1e3 * s.step,
                   1e3 * s.allreduce, 100 * s.allreduce / s.step, 1e3 * s.batchnorm, 100 * s.batchnorm / s.step,
                   1e3 * s.best_step, 1e3 * s.best_allreduce, 100 * s.best_allreduce / s.best_step,
                   1e3 * s.best_batchnorm, 100 * s.best_batchnorm / s.best_step);
    }
    if (!dist || dtype == TG_F64) return 0;
    /* the allreduce alone: algorithm bandwidth bytes / time, bus bandwidth 2 (N-1)/N bytes / time */
    const size_t sizes[] = {64 << 10, 1 << 20, 4 << 20, 16 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        double seconds = time_allreduce(sizes[i], budget / 4);
        if (rank != 0) continue;
        double bus = 2.0 * (size - 1) / size * (double)sizes[i] / seconds / 1e9;
        if (json)
            printf("{\"op\": \"dist\", \"case\": \"allreduce\", \"ranks\": %d, \"bytes\": %zu, \"seconds\": %.9f, "
                   "\"bus_gb_per_second\": %.4f}\n",
                   size, sizes[i], seconds, bus);
        else
            printf("allreduce of %6zu KiB f32 over %d ranks: %8.3f ms, %6.2f GB/s algorithm, %6.2f GB/s bus\n",
                   sizes[i] >> 10, size, 1e3 * seconds, (double)sizes[i] / seconds / 1e9, bus);
    }
    return 0;
}
#endif
