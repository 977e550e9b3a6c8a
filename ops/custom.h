/* Custom operations: a new op defined outside the library, used like a
 * built-in one (recorded on the tape, differentiated by the engine, checked
 * by tg_gradcheck). See docs/adding-an-op.md and tests/test_custom_op.c.
 *
 *   static const tg_custom_op swish_op = {
 *       .op = {"swish", 1, swish_backward},     // backward written with tg_* ops
 *       .shape = NULL,                          // NULL: output like input 0
 *       .forward = swish_forward};
 *   tg_tensor *y = tg_custom(t, &swish_op, 1, &x, NULL, 0);
 *
 * The backward rule reads node->inputs, node->output and node->attrs (a copy
 * of the attrs given to tg_custom) and sets grad_in[i] only for inputs with
 * requires_grad. Because it is written with tg_* ops, the engine can record
 * it (create_graph) and tg_gradgradcheck can check it. Backward passes run
 * fused (ops/fusion.h): grad_out may be pending, so hand it to tg_* ops, or
 * call tg_fuse_realize on it before reading its data yourself.
 */
#ifndef TG_OPS_CUSTOM_H
#define TG_OPS_CUSTOM_H

#include "core/tape.h"

typedef struct tg_custom_op {
    /* name, arity (-1: any number of inputs), backward rule, and optionally
     * describe (attributes as text for the DOT drawing, see core/tape.h);
     * must outlive the tapes using it */
    tg_op op;
    /* Output dtype and shape from the inputs (n of them, checked non-NULL and of
     * one dtype). Returns TG_OK, or a status after tg_set_error("why"). NULL:
     * the output has input 0's dtype and shape (elementwise ops). */
    tg_status (*shape)(const tg_tensor *const *inputs, int n, const void *attrs, tg_dtype *dtype, int *ndim,
                       int64_t shape[TG_MAX_DIMS]);
    /* Fills out->data (contiguous, out->numel elements of out->dtype) from the inputs. */
    void (*forward)(const tg_tensor *const *inputs, int n, tg_tensor *out, const void *attrs);
} tg_custom_op;

/* y = op(inputs...), attrs (attrs_size bytes, may be NULL/0) copied onto the
 * tape for the backward rule. NULL + tape error naming the op on a NULL input,
 * an arity mismatch, mixed dtypes, or a shape rule that refuses the inputs:
 *   "tg_custom(outer): the shape rule refused f64[2,3], f64[4]: expects two 1-D inputs" */
tg_tensor *tg_custom(tg_tape *t, const tg_custom_op *op, int n, tg_tensor *const *inputs, const void *attrs,
                     size_t attrs_size);

#endif
