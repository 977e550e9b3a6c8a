/* The parameter store: named tensors that outlive tapes. Trainable parameters
 * carry a gradient (->grad, same shape, zeroed at creation) that every
 * tg_backward accumulates into; buffers (batchnorm running statistics) are
 * stored and checkpointed but never trained.
 *
 * ->grad of a parameter is NULL after tg_set_grad_to_none until a backward
 * pass reaches the parameter (which then WRITES its gradient instead of adding
 * it to zeros); optimizers and gradient clipping skip a parameter whose ->grad
 * is NULL. The gradient's memory stays with the parameter either way, so a
 * training loop allocates nothing.
 *
 *   tg_params *p = tg_params_new();
 *   tg_rng rng = tg_rng_new(1);
 *   tg_tensor *w = tg_param(p, "fc1.weight", TG_F32, 2, (int64_t[]){784, 128},
 *                           TG_INIT_KAIMING_UNIFORM, &rng);
 */
#ifndef TG_CORE_PARAMS_H
#define TG_CORE_PARAMS_H

#include "core/rng.h"
#include "core/tensor.h"

typedef struct tg_params tg_params;

typedef enum tg_init {
    TG_INIT_ZEROS = 0,
    TG_INIT_ONES,
    TG_INIT_UNIFORM,          /* U(-1, 1) */
    TG_INIT_NORMAL,           /* N(0, 1) */
    TG_INIT_XAVIER_UNIFORM,   /* U(-a, a), a = sqrt(6 / (fan_in + fan_out)) */
    TG_INIT_KAIMING_UNIFORM   /* U(-a, a), a = 1 / sqrt(fan_in): torch.nn.Linear's default */
} tg_init;
/* fan_in is shape[0] for a 2-D [in, out] weight (tapegrad computes x @ W),
 * the product of all but the last dimension otherwise; fan_out the last. */

tg_params *tg_params_new(void);
void tg_params_free(tg_params *p);

/* Creates the parameter `name`, or returns the existing one if its dtype and
 * shape match (so model code can run once per step). NULL + tg_last_error()
 * on a mismatch, a bad shape, or a random init without rng. */
tg_tensor *tg_param(tg_params *p, const char *name, tg_dtype dtype, int ndim, const int64_t *shape,
                    tg_init init, tg_rng *rng);
/* Same for a non-trainable buffer (no ->grad, requires_grad false). */
tg_tensor *tg_buffer(tg_params *p, const char *name, tg_dtype dtype, int ndim, const int64_t *shape,
                     tg_init init, tg_rng *rng);

tg_tensor *tg_params_get(const tg_params *p, const char *name); /* NULL if absent */
/* Removes the tensors created after the store held `count` of them: how a
 * composite that creates several tensors (tg_batchnorm_init) leaves nothing
 * behind when one of them fails. No optimizer may have stepped since. */
void tg_params_truncate(tg_params *p, int count);
int tg_params_count(const tg_params *p);
tg_tensor *tg_params_at(const tg_params *p, int index);         /* in creation order */
/* Sets every trainable parameter's ->grad to zero (a zero tensor also where
 * it was NULL). One pass over all the gradients' memory. */
void tg_zero_grad(tg_params *p);
/* Sets every trainable parameter's ->grad to NULL, like PyTorch's
 * zero_grad(set_to_none=True): no pass over memory at all, and the next
 * backward pass writes each gradient once instead of adding it to zeros. A
 * parameter the next backward pass does not reach keeps ->grad NULL (and an
 * optimizer step leaves it alone, where zeros would still decay it through
 * momentum or weight decay). */
void tg_set_grad_to_none(tg_params *p);
/* One parallel region over every trainable parameter that has a gradient
 * (->grad not NULL): piece(context, i, param, begin, end) for the elements
 * [begin, end) of parameter i (tg_params_at order); the parameters' elements
 * laid end to end are cut into one range per thread, so a store of many
 * small parameters costs one region, not one per parameter. Serial below
 * TG_PARALLEL_MIN elements in all. Optimizers and gradient clipping use it. */
typedef void (*tg_param_piece_fn)(void *context, int index, tg_tensor *param, int64_t begin, int64_t end);
void tg_params_parallel(tg_params *p, tg_param_piece_fn piece, void *context);
/* Number of scalar values in trainable parameters. */
int64_t tg_params_numel(const tg_params *p);

/* Checkpoints: every tensor (parameters and buffers) with names, dtypes and
 * shapes, and an XXH3 checksum, written atomically (core/checkpoint.h: a
 * crash, a kill or a full disk never leaves a half-written file).
 *
 * Loading is strict, like PyTorch's load_state_dict: the file must hold
 * exactly the store's names, each with the same dtype, shape and kind; any
 * difference is an error that lists the names, and the store is unchanged.
 * Into an empty store, every tensor of the file is created. A run
 * checkpoint of `tg train` loads too (its other records are not the model's). */
tg_status tg_params_save(const tg_params *p, const char *path);
tg_status tg_params_load(tg_params *p, const char *path);

/* What a load did: tensors set, created (empty store), in the store but not
 * in the file (left as they were), in the file but not in the store (skipped),
 * and those names ("missing 'a', 'b'; unexpected 'c'", truncated with ...). */
typedef struct tg_load_report {
    int loaded, created, missing, unexpected;
    char names[512];
} tg_load_report;
/* strict = false loads the names both have and reports the rest (dtype,
 * shape and kind must still match). report may be NULL. */
tg_status tg_params_load_ex(tg_params *p, const char *path, bool strict, tg_load_report *report);

/* The same from a checkpoint already read (tg_checkpoint_read), and a check
 * that changes nothing: to load a model and other state all or nothing. */
struct tg_checkpoint;
tg_status tg_params_load_checkpoint(tg_params *p, const struct tg_checkpoint *c, bool strict,
                                    tg_load_report *report);
tg_status tg_params_check_checkpoint(const tg_params *p, const struct tg_checkpoint *c, bool strict);

#endif
