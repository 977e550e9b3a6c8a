/* Shared machinery for operation files (private to ops/): argument checks
 * that report through the tape, NumPy broadcasting, and the one dispatch path
 * from (dtype, layout) to a typed loop. */
#ifndef TG_OPS_KERNEL_H
#define TG_OPS_KERNEL_H

#include <stdbool.h>

#include "core/parallel.h"
#include "core/tape.h"
#include "ops/fusion.h"

/* NULL inputs (propagation: the tape already holds the first error), a tensor
 * of another tape, or mixed dtypes: records the error and returns false.
 * Pending inputs (ops/fusion.h) are computed: the op may read every input's data.
 * Names `op` as the running op (tg_tape_set_op): a string that outlives the
 * call, such as a literal. */
bool tg_check_inputs(tg_tape *t, const char *op, int n, tg_tensor *const *inputs);
/* The same checks for a pointwise op, leaving pending inputs pending: the op
 * then calls tg_fuse_pointwise, which computes them if the op runs at once. */
bool tg_check_pointwise_inputs(tg_tape *t, const char *op, int n, tg_tensor *const *inputs);

/* Normalises axis (negative counts from the end) for an ndim-tensor. */
bool tg_check_axis(tg_tape *t, const char *op, const tg_tensor *x, int axis, int *out);
/* Normalises a list of axes into a mask; n_axes 0 means all axes (axes may
 * then be NULL); a negative count, or axes NULL with a count, is an error. */
bool tg_check_axes(tg_tape *t, const char *op, const tg_tensor *x, const int *axes, int n_axes,
                   bool reduced[TG_MAX_DIMS]);

/* ---- broadcasting ---- */
/* The broadcast of a and b's shapes (NumPy rules), or false + tape error:
 * "tg_add: shapes [2,3] and [4] do not broadcast". */
bool tg_broadcast_shapes(tg_tape *t, const char *op, const tg_tensor *a, const tg_tensor *b, int *ndim,
                         int64_t shape[TG_MAX_DIMS]);

/* An output shape with per-operand element strides (0 along broadcast dims),
 * adjacent dimensions merged where all operands allow it. */
typedef struct tg_layout {
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    int64_t stride[3][TG_MAX_DIMS];
} tg_layout;

/* Layout for out = f(in[0], ..., in[n-1]), n <= 3, inputs broadcast to out. */
void tg_layout_make(tg_layout *l, const tg_tensor *out, int n, const tg_tensor *const *in);

/* A row function: y[i] = f(in0[i*s0], in1[i*s1], ...) for i < n. */
typedef void (*tg_row_fn)(int64_t n, void *y, const void *const *in, const int64_t *stride, const void *attrs);

/* Runs `row` over the whole layout in parallel (fixed partition). */
void tg_layout_run(const tg_layout *l, tg_row_fn row, void *y, const void *const *in, size_t elem_size,
                   const void *attrs);

/* y[i] = in[0][i * stride[0]]: copies, broadcasts and permutes. */
void tg_row_copy_f32(int64_t n, void *y, const void *const *in, const int64_t *stride, const void *attrs);
void tg_row_copy_f64(int64_t n, void *y, const void *const *in, const int64_t *stride, const void *attrs);

/* For composites: result = body, evaluated inside tape scope `name` (popped
 * whatever happens); returns NULL from the caller if the scope can't open. */
#define TG_IN_SCOPE(t, name, result, body)                  \
    do {                                                    \
        if (tg_tape_push_scope((t), (name))) return NULL;   \
        result = (body);                                    \
        tg_tape_pop_scope(t);                               \
    } while (0)
/* The same inside a fusion scope too: the composite's pointwise chains run
 * as fused passes; result is computed before the scopes close (unless an
 * outer fusion scope is open: then it stays pending for it). */
#define TG_IN_FUSED_SCOPE(t, name, result, body)                                  \
    do {                                                                          \
        if (tg_tape_push_scope((t), (name))) return NULL;                         \
        tg_fuse_begin(t);                                                         \
        result = (body);                                                          \
        if (tg_fuse_end((t), result ? 1 : 0, &result)) result = NULL;             \
        tg_tape_pop_scope(t);                                                     \
    } while (0)

/* ---- fusion (ops/fusion.c, ops/fusion.h) ---- */
/* True when pointwise ops on t record steps instead of computing. */
bool tg_fusing(const tg_tape *t);
/* Where the tape fuses ops of this size: *out = op(in[0..n)) of `shape` as a
 * pending step, computed later by the row functions f32 / f64 (which read
 * `attrs`, stored with the step), and true (*out NULL after an error).
 * Otherwise computes any pending input and returns false (true with *out
 * NULL if that fails): the op computes at once. Every pointwise op does
 *     tg_tensor *y;
 *     if (tg_fuse_pointwise(t, &op, f32, f64, n, in, ndim, shape, &at, sizeof at, &y)) return y; */
bool tg_fuse_pointwise(tg_tape *t, const tg_op *op, tg_row_fn f32, tg_row_fn f64, int n, tg_tensor *const *in,
                       int ndim, const int64_t *shape, const void *attrs, size_t attrs_size, tg_tensor **out);
/* Whether a sum of x over `reduced` waits as a pending step: the tape is
 * fusing, x is pending, and the reduction is one [outer, R, inner] pass.
 * Otherwise the caller sums at once. */
bool tg_fuse_sum_waits(tg_tape *t, const tg_tensor *x, const bool reduced[TG_MAX_DIMS]);
/* y = scale * (sum of pending x over `reduced`) as a pending step of `shape`. */
tg_tensor *tg_fuse_sum(tg_tape *t, const tg_op *op, tg_tensor *x, const bool reduced[TG_MAX_DIMS], double scale,
                       int ndim, const int64_t *shape, const void *attrs, size_t attrs_size);
/* y = scale * sum of x over `reduced` (y's numel is the kept size): tg_sum's
 * kernel. False (tape error) if memory runs out. */
bool tg_sum_into(tg_tape *t, const tg_tensor *x, const bool reduced[TG_MAX_DIMS], tg_tensor *y, double scale);

/* Scratch description strings for error messages. */
#define TG_DESC(x) tg_tensor_desc((x), (char[96]){0}, 96)

#endif

/* ---- reductions ----
 * A reduction over any set of axes is a sequence of passes, each reducing one
 * run of adjacent axes: x viewed as [outer, reduce, inner] -> [outer, inner].
 * tg_reduce_passes fills passes[i] = {outer, reduce, inner} in the order to
 * run them and returns their count (0 when nothing is reduced). */
int tg_reduce_passes(const tg_tensor *x, const bool reduced[TG_MAX_DIMS], int64_t passes[TG_MAX_DIMS][3]);
/* r (a reduction of x over `reduced`, with or without keepdim) reshaped to the
 * keepdim shape, ready to broadcast against x: backward rules use it. */
tg_tensor *tg_as_keepdim(tg_tape *t, tg_tensor *r, const tg_tensor *x, const bool reduced[TG_MAX_DIMS]);
/* The reduced shape: keepdim keeps size-1 axes. */
void tg_reduced_shape(const tg_tensor *x, const bool reduced[TG_MAX_DIMS], bool keepdim, int *ndim,
                      int64_t shape[TG_MAX_DIMS]);
