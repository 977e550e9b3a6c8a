/* Mini-batches of sample indices. Batch gradient descent is batch_size = n,
 * stochastic gradient descent batch_size = 1, mini-batch anything between:
 *
 *   tg_batches *b = tg_batches_new(n, 64, false, &rng);
 *   const int64_t *idx; int64_t count;
 *   while (tg_batches_next(b, &idx, &count)) {            // one epoch
 *       tg_tensor *x = tg_index_select(t, X, 0, count, idx);   // rows of the batch
 *       ...
 *   }                                                      // then the next epoch starts
 *
 * Each epoch visits every sample once, in an order shuffled by rng (drawn
 * afresh each epoch), or in order 0..n-1 when rng is NULL. */
#ifndef TG_OPTIM_BATCHES_H
#define TG_OPTIM_BATCHES_H

#include <stdbool.h>
#include <stdint.h>

#include "core/checkpoint.h"
#include "core/rng.h"
#include "core/status.h"

typedef struct tg_batches tg_batches;

/* drop_last: skip a last batch smaller than batch_size. NULL + tg_last_error()
 * on n_samples < 1, batch_size < 1, or more samples than memory can index.
 * rng may be NULL; if not, it must outlive b. */
tg_batches *tg_batches_new(int64_t n_samples, int64_t batch_size, bool drop_last, tg_rng *rng);
void tg_batches_free(tg_batches *b);
/* The next batch: *count indices at *indices (valid until the next call).
 * Returns false once an epoch is over (the following call starts the next one). */
bool tg_batches_next(tg_batches *b, const int64_t **indices, int64_t *count);
/* The batch the next tg_batches_next will deal (this rank's share), without
 * dealing it: to prefetch its samples while the current batch computes
 * (tg_dataset_prefetch). Valid until the next tg_batches_next. False (NULL,
 * 0) when the epoch has no batch left: the next epoch's order is drawn only
 * when it begins. */
bool tg_batches_peek(const tg_batches *b, const int64_t **indices, int64_t *count);
int64_t tg_batches_epoch(const tg_batches *b);     /* epochs finished */
int64_t tg_batches_per_epoch(const tg_batches *b); /* batches in one epoch */
int64_t tg_batches_position(const tg_batches *b);  /* batches dealt in the current epoch */

/* Data parallel: rank `rank` of `size` deals only its share of every batch,
 * positions [r c / size, (r + 1) c / size) of a batch of c, so the union of
 * the ranks' shares at each step is exactly the batch one process would deal
 * (give every rank the same rng seed: the shuffling must agree). The counts
 * differ by at most one. TG_ERR_ARG when a batch of the epoch would have
 * fewer samples than ranks (a rank would get none): choose another batch
 * size or drop_last. Export and import are unchanged (the position and order
 * are the whole run's), so a run checkpoint resumes on any rank count. */
tg_status tg_batches_shard(tg_batches *b, int rank, int size);
/* The size of the whole batch the last tg_batches_next dealt a share of (its
 * count when not sharded; 0 before the first batch and at an epoch's end). */
int64_t tg_batches_last_size(const tg_batches *b);

/* Resuming mid-epoch: the iterator's position in the epoch, the epoch count
 * and the current permutation as checkpoint records
 *   batches/position   bytes: 5 int64: samples, batch size, batches per epoch,
 *                      batches dealt this epoch, epochs finished
 *   batches/order      bytes: samples int64: the epoch's permutation
 * An iterator made with the same samples, batch size and drop_last that
 * imports them deals the same remaining batches and, once the caller has
 * restored its rng too (the rng is the caller's to save), the same next
 * epochs. Checking reads everything (the order must be a permutation) and
 * changes nothing; importing is all or nothing. */
tg_status tg_batches_export(const tg_batches *b, tg_checkpoint *c);
tg_status tg_batches_check_import(const tg_batches *b, const tg_checkpoint *c);
tg_status tg_batches_import(tg_batches *b, const tg_checkpoint *c);

#endif
