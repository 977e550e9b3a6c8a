#include "optim/batches.h"

#include <stdlib.h>

struct tg_batches {
    int64_t n, batch_size, per_epoch, next_batch, epoch;
    tg_rng *rng;
    int64_t *order; /* a permutation of 0..n-1 */
};

/* Fisher-Yates with the caller's rng */
static void shuffle(tg_batches *b) {
    for (int64_t i = 0; i < b->n; i++) b->order[i] = i;
    if (!b->rng) return;
    for (int64_t i = b->n - 1; i > 0; i--) {
        int64_t j = (int64_t)tg_rng_below(b->rng, (uint64_t)i + 1);
        int64_t tmp = b->order[i];
        b->order[i] = b->order[j];
        b->order[j] = tmp;
    }
}

tg_batches *tg_batches_new(int64_t n_samples, int64_t batch_size, bool drop_last, tg_rng *rng) {
    if (n_samples < 1 || batch_size < 1) {
        tg_set_error(TG_ERR_ARG, "tg_batches_new: %lld samples in batches of %lld (both must be >= 1)",
                     (long long)n_samples, (long long)batch_size);
        return NULL;
    }
    tg_batches *b = calloc(1, sizeof *b);
    int64_t *order = b ? malloc(sizeof *order * (size_t)n_samples) : NULL;
    if (!order) {
        free(b);
        tg_set_error(TG_ERR_NOMEM, "tg_batches_new: out of memory for %lld samples", (long long)n_samples);
        return NULL;
    }
    int64_t full = n_samples / batch_size;
    *b = (tg_batches){.n = n_samples,
                      .batch_size = batch_size,
                      .per_epoch = (drop_last || n_samples % batch_size == 0) ? full : full + 1,
                      .rng = rng,
                      .order = order};
    if (b->per_epoch == 0) b->per_epoch = 1; /* drop_last with batch_size > n: one smaller batch */
    shuffle(b);
    return b;
}

void tg_batches_free(tg_batches *b) {
    if (!b) return;
    free(b->order);
    free(b);
}

bool tg_batches_next(tg_batches *b, const int64_t **indices, int64_t *count) {
    if (!b || !indices || !count) return false;
    if (b->next_batch == b->per_epoch) { /* epoch over: report it once, reshuffle for the next */
        b->next_batch = 0;
        b->epoch++;
        shuffle(b);
        *indices = NULL;
        *count = 0;
        return false;
    }
    int64_t start = b->next_batch++ * b->batch_size;
    int64_t end = start + b->batch_size < b->n ? start + b->batch_size : b->n;
    *indices = b->order + start;
    *count = end - start;
    return true;
}

int64_t tg_batches_epoch(const tg_batches *b) { return b ? b->epoch : 0; }
int64_t tg_batches_per_epoch(const tg_batches *b) { return b ? b->per_epoch : 0; }
