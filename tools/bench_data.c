/* tg bench --op data: loading Fashion-MNIST (when installed), standardising
 * it, and gathering shuffled batches onto a tape, from u8 storage (the real
 * images) and from f32 arrays. Best of repeated calls, like the other ops. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tapegrad.h"
#include "tools/timing.h"
#include "tools/commands.h"

static void report(bool json, const char *what, const char *dtype, int64_t batch, double seconds, double elements) {
    if (json)
        printf("{\"op\": \"data\", \"case\": \"%s\", \"dtype\": \"%s\", \"batch\": %lld, \"threads\": %d, "
               "\"seconds\": %.9f, \"ns_per_element\": %.4f}\n",
               what, dtype, (long long)batch, tg_get_num_threads(), seconds, seconds * 1e9 / elements);
    else if (batch)
        printf("%-34s %-4s batch %4lld: %10.2f us  %7.3f ns per element\n", what, dtype, (long long)batch,
               seconds * 1e6, seconds * 1e9 / elements);
    else
        printf("%-34s %-4s          %10.3f s\n", what, dtype, seconds);
    fflush(stdout);
}

/* Best seconds of one tg_dataset_gather of `batch` shuffled samples. */
static double time_gather(tg_tape *t, const tg_dataset *ds, tg_dtype dtype, int64_t batch, double budget) {
    tg_rng rng = tg_rng_new(1);
    tg_batches *batches = tg_batches_new(tg_dataset_len(ds), batch, true, &rng);
    if (!batches) return -1;
    double best = 1e30, start = now_seconds();
    for (int rep = 0;; rep++) {
        const int64_t *idx;
        int64_t count;
        if (!tg_batches_next(batches, &idx, &count)) tg_batches_next(batches, &idx, &count);
        tg_tape_reset(t);
        tg_batch b;
        double t0 = now_seconds();
        tg_status st = tg_dataset_gather(t, ds, dtype, count, idx, &b);
        double t1 = now_seconds();
        if (st) {
            best = -1;
            break;
        }
        if (rep >= 3 && t1 - t0 < best) best = t1 - t0;
        if (rep >= 13 && t1 - start > budget) break;
    }
    tg_batches_free(batches);
    return best;
}

static int gather_rows(tg_tape *t, const tg_dataset *ds, const char *what, tg_dtype dtype, double budget, bool json) {
    static const int64_t sizes[] = {32, 128, 512, 2048};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        double seconds = time_gather(t, ds, dtype, sizes[i], budget);
        if (seconds < 0) {
            fprintf(stderr, "tg bench: data: %s\n", tg_last_error());
            return 1;
        }
        report(json, what, tg_dtype_name(dtype), sizes[i], seconds, (double)(sizes[i] * tg_dataset_features(ds)));
    }
    return 0;
}

int tg_bench_data(tg_dtype dtype, double budget, bool json) {
    tg_tape *t = tg_tape_new();
    if (!t) return 1;
    int status = 0;
    /* the real images: u8 bytes, scaled and standardised as they are gathered;
     * load and standardise are timed once per run (best of three loads) */
    static bool timed_load = false;
    double best_load = 1e30;
    tg_dataset *fashion = NULL;
    for (int rep = 0; rep < (timed_load ? 1 : 3); rep++) {
        tg_dataset_free(fashion);
        double t0 = now_seconds();
        fashion = tg_dataset_fashion_mnist(NULL, true);
        double t1 = now_seconds();
        if (!fashion) break;
        if (t1 - t0 < best_load) best_load = t1 - t0;
    }
    if (fashion) {
        double t0 = now_seconds();
        status = tg_dataset_standardize(fashion);
        double t1 = now_seconds();
        if (!timed_load) {
            report(json, "load fashion-mnist train", "u8", 0, best_load, 1);
            report(json, "standardize fashion-mnist train", "u8", 0, t1 - t0, 1);
            timed_load = true;
        }
        if (!status) status = gather_rows(t, fashion, "gather fashion-mnist (u8 storage)", dtype, budget, json);
        tg_dataset_free(fashion);
    } else if (!json) {
        printf("(%s: skipping the Fashion-MNIST rows)\n", tg_last_error());
    }
    /* f32 arrays of the same sample size */
    enum { N = 10000, F = 784 };
    float *x = malloc(sizeof(float) * N * F);
    int64_t *labels = malloc(sizeof(int64_t) * N);
    tg_rng rng = tg_rng_new(2);
    for (int64_t i = 0; x && labels && i < N * F; i++) x[i] = (float)tg_rng_uniform(&rng);
    for (int64_t i = 0; x && labels && i < N; i++) labels[i] = i % 10;
    tg_dataset *arrays = x && labels ? tg_dataset_from(TG_F32, 2, (int64_t[]){N, F}, x, labels, NULL, 0) : NULL;
    free(x);
    free(labels);
    if (!status && arrays && !tg_dataset_standardize(arrays))
        status = gather_rows(t, arrays, "gather arrays (f32 storage)", dtype, budget, json);
    else if (!status)
        status = 1;
    tg_dataset_free(arrays);
    tg_tape_free(t);
    return status;
}
