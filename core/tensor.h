/* Tensors: f32 or f64, up to 8 dimensions, contiguous row-major.
 *
 * A tensor lives either on a tape (inputs, constants, op results: freed by
 * tg_tape_reset / tg_tape_free) or in a parameter store (tg_params: persistent).
 * Nothing needs an individual free.
 */
#ifndef TG_CORE_TENSOR_H
#define TG_CORE_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

#define TG_MAX_DIMS 8

typedef enum tg_dtype { TG_F32 = 0, TG_F64 = 1 } tg_dtype;

/* What a tensor is, for the engine and the DOT exporter. */
typedef enum tg_kind {
    TG_KIND_CONSTANT = 0, /* tape leaf that needs no gradient */
    TG_KIND_INPUT,        /* tape leaf the user marked with tg_requires_grad */
    TG_KIND_PARAM,        /* trainable tensor in a tg_params store */
    TG_KIND_BUFFER,       /* non-trainable tensor in a tg_params store */
    TG_KIND_RESULT        /* output of a recorded operation */
} tg_kind;

typedef struct tg_tape tg_tape;
typedef struct tg_node tg_node;

/* A tensor of a tg_params store has this epoch; a tape tensor has its tape's
 * epoch when it was made (tg_tape_epoch, core/tape.h). */
#define TG_EPOCH_STORED 0x53544f5245440001ull

typedef struct tg_tensor {
    uint64_t epoch;                /* the tape's epoch when made, TG_EPOCH_STORED in a store */
    tg_dtype dtype;
    int ndim;                      /* 0 for a scalar */
    int64_t shape[TG_MAX_DIMS];
    int64_t numel;
    void *data;                    /* numel elements of dtype, 64-byte aligned */
    tg_kind kind;
    bool requires_grad;            /* a gradient flows back to (or through) it */
    bool keeps_grad;               /* backward accumulates into ->grad */
    /* accumulated gradient, same shape, or NULL: NULL before the first
     * backward pass reaches a tape tensor, and for a parameter after
     * tg_set_grad_to_none until a backward pass gives it a gradient */
    struct tg_tensor *grad;
    tg_node *node;                 /* the node that produced it, NULL for leaves */
    tg_tape *tape;                 /* owning tape, NULL for stored tensors */
    const char *name;              /* parameter name or user label, may be NULL */
    uint64_t version;              /* bumped by every in-place update */
    /* a parameter's own gradient tensor, kept while ->grad is NULL (set to
     * none) so the next backward pass writes into it without allocating */
    struct tg_tensor *grad_storage;
    /* engine-private: gradient gathered during the backward pass `grad_pass` */
    struct tg_tensor *pending_grad;
    uint64_t pending_pass;
} tg_tensor;

/* ---- creation on a tape (NULL + tape error on bad arguments) ---- */
tg_tensor *tg_tensor_from(tg_tape *t, tg_dtype dtype, int ndim, const int64_t *shape,
                          const void *data);          /* copies numel elements */
tg_tensor *tg_tensor_empty(tg_tape *t, tg_dtype dtype, int ndim, const int64_t *shape);
tg_tensor *tg_zeros(tg_tape *t, tg_dtype dtype, int ndim, const int64_t *shape);
tg_tensor *tg_ones(tg_tape *t, tg_dtype dtype, int ndim, const int64_t *shape);
tg_tensor *tg_full(tg_tape *t, tg_dtype dtype, int ndim, const int64_t *shape, double value);
tg_tensor *tg_scalar(tg_tape *t, tg_dtype dtype, double value);   /* 0-d */
struct tg_rng;
/* U[low, high) and N(mean, std^2), drawn from `rng` (no global random state) */
tg_tensor *tg_uniform(tg_tape *t, struct tg_rng *rng, tg_dtype dtype, int ndim,
                      const int64_t *shape, double low, double high);
tg_tensor *tg_normal(tg_tape *t, struct tg_rng *rng, tg_dtype dtype, int ndim,
                     const int64_t *shape, double mean, double std);
/* A tensor on tape t over YOUR memory, without copying it (tg_tensor_from
 * copies): `data` holds numel elements of dtype, aligned for the dtype.
 * Lifetime: the memory must stay valid until the tape is reset or freed (the
 * tensor itself is forgotten then); tapegrad never frees it and never writes
 * it. Versions: it is a constant leaf at version 0 (tg_requires_grad to
 * differentiate it). If you change the values after ops used it and before
 * their backward pass, call tg_tensor_bump_version(x): the backward pass then
 * reports the stale value instead of computing wrong gradients. NULL + tape
 * error for a bad shape or dtype, NULL data, or misaligned data. */
tg_tensor *tg_tensor_wrap(tg_tape *t, tg_dtype dtype, int ndim, const int64_t *shape, void *data);
/* A copy of x on tape t, not connected to x's graph (like torch's detach().clone()). */
tg_tensor *tg_detach(tg_tape *t, const tg_tensor *x);

/* Marks a tape tensor as needing a gradient: backward accumulates into x->grad. */
tg_status tg_requires_grad(tg_tensor *x);
/* Gives a tensor a label shown in errors and in DOT output (copied). */
tg_status tg_tensor_set_name(tg_tensor *x, const char *name);

/* ---- element access ---- */
size_t tg_dtype_size(tg_dtype dtype);
const char *tg_dtype_name(tg_dtype dtype);          /* "f32" / "f64" */
/* Element flat_index (row-major) as a double. Checked, never a crash: a NULL
 * tensor or an index outside [0, numel) gives NaN and tg_last_error() (and
 * tg_set does nothing). For speed, read x->data directly: numel contiguous
 * elements of x->dtype. (A tensor from before a reset is not detected here:
 * its memory may already be another's.) */
double tg_get(const tg_tensor *x, int64_t flat_index);
void tg_set(tg_tensor *x, int64_t flat_index, double value); /* bumps no version */
double tg_item(const tg_tensor *x);                  /* element 0 (scalars); NaN if NULL or empty */
/* Copies all elements into `out` as doubles (numel of them). */
tg_status tg_tensor_to_f64(const tg_tensor *x, double *out);
/* Copies src's values into dst (same numel, any dtypes); bumps dst's version. */
tg_status tg_tensor_copy_values(tg_tensor *dst, const tg_tensor *src);
bool tg_same_shape(const tg_tensor *a, const tg_tensor *b);

/* "[32,784]" into buf; returns buf. */
char *tg_shape_str(int ndim, const int64_t *shape, char *buf, size_t size);
/* "f32[32,784]" into buf; "NULL" for a NULL tensor; returns buf. */
char *tg_tensor_desc(const tg_tensor *x, char *buf, size_t size);

/* numpy-like printing: tensor([[1., 2.], [3., 4.]], f32[2,2]) */
void tg_tensor_print(FILE *out, const tg_tensor *x);

/* The flat index of x's first NaN or infinite element, -1 if every element
 * is finite (or x is NULL). */
int64_t tg_tensor_first_nonfinite(const tg_tensor *x);

/* XXH3-64 over dtype, shape and bytes: equal hashes <=> bitwise-equal tensors. */
uint64_t tg_tensor_hash(const tg_tensor *x);

/* Bumps the version counter; every in-place update calls it. */
void tg_tensor_bump_version(tg_tensor *x);

/* ---- shapes ----
 * The largest element count of a tensor: its bytes (8 per f64 element) fit
 * in int64. */
#define TG_MAX_NUMEL (INT64_MAX / 8)
/* The one overflow-checked shape product, used wherever a shape is made.
 * True, with *numel the product of the dimensions, when every dimension is
 * >= 0 and the product of the NON-ZERO ones is at most TG_MAX_NUMEL: then the
 * byte count, and any product of some of the dimensions that a kernel forms
 * (rows, strides), fits in int64, also for an empty tensor such as [0, 2^62].
 * False otherwise (numel may be NULL). */
bool tg_shape_product(int ndim, const int64_t *shape, int64_t *numel);
/* Checks a shape argument (ndim in 0..8, shape not NULL, dims >= 0, product
 * as tg_shape_product); status + message naming `who` on error. */
tg_status tg_check_shape(const char *who, int ndim, const int64_t *shape);
/* The element count of a shape already checked (unchecked product). */
int64_t tg_shape_numel(int ndim, const int64_t *shape);

#endif
