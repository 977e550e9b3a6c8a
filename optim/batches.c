#include "optim/batches.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct tg_batches {
    int64_t n, batch_size, per_epoch, next_batch, epoch;
    int rank, size;   /* this process deals share `rank` of `size` of every batch */
    int64_t last_size; /* of the whole batch last dealt */
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
    if ((uint64_t)n_samples > SIZE_MAX / sizeof(int64_t)) {
        tg_set_error(TG_ERR_ARG, "tg_batches_new: %lld samples are more than memory can index",
                     (long long)n_samples);
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
                      .order = order,
                      .size = 1};
    if (b->per_epoch == 0) b->per_epoch = 1; /* drop_last with batch_size > n: one smaller batch */
    shuffle(b);
    return b;
}

void tg_batches_free(tg_batches *b) {
    if (!b) return;
    free(b->order);
    free(b);
}

/* This rank's share of batch `batch` of the epoch: *indices, *count; returns the whole batch's size. */
static int64_t share_of(const tg_batches *b, int64_t batch, const int64_t **indices, int64_t *count) {
    int64_t start = batch * b->batch_size;
    int64_t end = start + b->batch_size < b->n ? start + b->batch_size : b->n;
    int64_t c = end - start;
    *indices = b->order + start + c * b->rank / b->size;
    *count = c * (b->rank + 1) / b->size - c * b->rank / b->size;
    return c;
}

bool tg_batches_next(tg_batches *b, const int64_t **indices, int64_t *count) {
    if (!b || !indices || !count) return false;
    if (b->next_batch == b->per_epoch) { /* epoch over: report it once, reshuffle for the next */
        b->next_batch = 0;
        b->epoch++;
        shuffle(b);
        *indices = NULL;
        *count = 0;
        b->last_size = 0;
        return false;
    }
    b->last_size = share_of(b, b->next_batch++, indices, count);
    return true;
}

bool tg_batches_peek(const tg_batches *b, const int64_t **indices, int64_t *count) {
    if (!b || !indices || !count || b->next_batch == b->per_epoch) {
        if (indices) *indices = NULL;
        if (count) *count = 0;
        return false;
    }
    share_of(b, b->next_batch, indices, count);
    return true;
}

/* the smallest batch of an epoch: the last one */
static int64_t smallest_batch(const tg_batches *b) {
    int64_t last = b->n - (b->per_epoch - 1) * b->batch_size;
    return last < b->batch_size ? last : b->batch_size;
}

tg_status tg_batches_shard(tg_batches *b, int rank, int size) {
    if (!b) return tg_set_error(TG_ERR_ARG, "tg_batches_shard: iterator is NULL");
    if (size < 1 || rank < 0 || rank >= size)
        return tg_set_error(TG_ERR_ARG, "tg_batches_shard: rank %d of %d is not a rank", rank, size);
    int64_t smallest = smallest_batch(b);
    if (smallest < size)
        return tg_set_error(TG_ERR_ARG,
                            "tg_batches_shard: a batch of %lld samples (of %lld in batches of %lld) cannot be shared "
                            "by %d ranks; choose another batch size or drop_last",
                            (long long)smallest, (long long)b->n, (long long)b->batch_size, size);
    b->rank = rank;
    b->size = size;
    return TG_OK;
}

int64_t tg_batches_last_size(const tg_batches *b) { return b ? b->last_size : 0; }

int64_t tg_batches_epoch(const tg_batches *b) { return b ? b->epoch : 0; }
int64_t tg_batches_per_epoch(const tg_batches *b) { return b ? b->per_epoch : 0; }

int64_t tg_batches_position(const tg_batches *b) { return b ? b->next_batch : 0; }

/* ---- resuming ---- */

enum { POSITION_FIELDS = 5 }; /* samples, batch size, batches per epoch, batches dealt, epochs */

tg_status tg_batches_export(const tg_batches *b, tg_checkpoint *c) {
    if (!b || !c) return tg_set_error(TG_ERR_ARG, "tg_batches_export: iterator or checkpoint is NULL");
    const int64_t position[POSITION_FIELDS] = {b->n, b->batch_size, b->per_epoch, b->next_batch, b->epoch};
    tg_status st = tg_checkpoint_add_bytes(c, "batches/position", position, sizeof position);
    if (!st) st = tg_checkpoint_add_bytes(c, "batches/order", b->order, sizeof *b->order * (size_t)b->n);
    return st;
}

/* Checks c's records against b; on success *position and *order hold them. */
static tg_status check_records(const char *who, const tg_batches *b, const tg_checkpoint *c,
                               int64_t position[POSITION_FIELDS], const void **order) {
    if (!b || !c) return tg_set_error(TG_ERR_ARG, "%s: iterator or checkpoint is NULL", who);
    const char *origin = tg_checkpoint_origin(c);
    if (tg_checkpoint_get_bytes(c, "batches/position", position, sizeof(int64_t) * POSITION_FIELDS))
        return TG_ERR_FORMAT;
    if (position[0] != b->n || position[1] != b->batch_size || position[2] != b->per_epoch)
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: '%s' holds %lld samples in batches of %lld (%lld per epoch), this iterator deals "
                            "%lld in batches of %lld (%lld per epoch)",
                            who, origin, (long long)position[0], (long long)position[1], (long long)position[2],
                            (long long)b->n, (long long)b->batch_size, (long long)b->per_epoch);
    if (position[3] < 0 || position[3] > b->per_epoch || position[4] < 0)
        return tg_set_error(TG_ERR_FORMAT, "%s: '%s': batch %lld of %lld in epoch %lld is not a position", who,
                            origin, (long long)position[3], (long long)b->per_epoch, (long long)position[4]);
    const tg_record *r = tg_checkpoint_find(c, "batches/order");
    if (!r || r->kind != TG_RECORD_BYTES || r->bytes != sizeof(int64_t) * (size_t)b->n)
        return tg_set_error(TG_ERR_FORMAT, "%s: '%s' has no %lld-sample record 'batches/order'", who, origin,
                            (long long)b->n);
    unsigned char *seen = calloc((size_t)b->n, 1);
    if (!seen) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    const unsigned char *bytes = r->data; /* the record may not be 8-byte aligned */
    for (int64_t i = 0; i < b->n; i++) {
        int64_t v;
        memcpy(&v, bytes + sizeof v * (size_t)i, sizeof v);
        if (v < 0 || v >= b->n || seen[v]) {
            free(seen);
            return tg_set_error(TG_ERR_FORMAT, "%s: '%s': batches/order is not a permutation of 0..%lld (entry %lld is "
                                "%lld)", who, origin, (long long)b->n - 1, (long long)i, (long long)v);
        }
        seen[v] = 1;
    }
    free(seen);
    *order = r->data;
    return TG_OK;
}

tg_status tg_batches_check_import(const tg_batches *b, const tg_checkpoint *c) {
    int64_t position[POSITION_FIELDS];
    const void *order = NULL;
    return check_records("tg_batches_check_import", b, c, position, &order);
}

tg_status tg_batches_import(tg_batches *b, const tg_checkpoint *c) {
    int64_t position[POSITION_FIELDS];
    const void *order = NULL;
    tg_status st = check_records("tg_batches_import", b, c, position, &order);
    if (st) return st;
    memcpy(b->order, order, sizeof *b->order * (size_t)b->n);
    b->next_batch = position[3];
    b->epoch = position[4];
    return TG_OK;
}
