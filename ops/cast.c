/* cast: f32 <-> f64 conversion; the gradient is cast back to x's dtype. */
#include <string.h>

#include "ops/kernel.h"
#include "ops/registry.h"
#include "ops/shape.h"

typedef struct {
    tg_dtype dtype;
} cast_attrs;

#define CONVERT(NAME, TO, FROM)                                          \
    static void NAME(TO *restrict y, const FROM *restrict x, int64_t n) { \
        TG_PARALLEL_FOR(i, n, { y[i] = (TO)x[i]; });                      \
    }
CONVERT(f64_to_f32, float, double)
CONVERT(f32_to_f64, double, float)

/* d cast = g cast back to x's dtype */
static tg_status cast_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    gi[0] = tg_cast(t, g, node->inputs[0]->dtype);
    return tg_tape_status(t);
}
static const tg_op cast_op = {"cast", 1, cast_backward};

tg_tensor *tg_cast(tg_tape *t, tg_tensor *x, tg_dtype dtype) {
    if (!tg_check_inputs(t, "tg_cast", 1, &x)) return NULL;
    if (dtype != TG_F32 && dtype != TG_F64) {
        tg_tape_fail(t, TG_ERR_DTYPE, "tg_cast: unknown dtype %d for %s (TG_F32 or TG_F64)", (int)dtype, TG_DESC(x));
        return NULL;
    }
    tg_tensor *y = tg_tape_result(t, dtype, x->ndim, x->shape);
    if (!y) return NULL;
    if (dtype == x->dtype)
        memcpy(y->data, x->data, (size_t)x->numel * tg_dtype_size(dtype));
    else if (dtype == TG_F32)
        f64_to_f32(y->data, x->data, x->numel);
    else
        f32_to_f64(y->data, x->data, x->numel);
    cast_attrs at = {dtype};
    return tg_tape_record(t, &cast_op, 1, &x, y, &at, sizeof at);
}

/* ---- registry entries ---- */
/* The checked entry keeps the sampled dtype (a recorded copy): a conversion
 * to f32 would drown a central difference in rounding. */
static tg_status sample_signed(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(3, 4), 0.1, 1.5);
    return tg_tape_status(t);
}
static tg_tensor *apply_cast(tg_tape *t, tg_tensor **in) {
    return tg_cast(t, in[0], in[0] && !tg_tape_check_tensor(t, in[0]) ? in[0]->dtype : TG_F64); /* tg_cast reports */
}

const tg_op_spec tg_spec_cast = {"cast(same dtype)", "tg_cast", 1, sample_signed, apply_cast};
