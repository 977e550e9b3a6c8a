/* var: a composite of primitives, so its gradient (and double gradient) comes
 * from the engine. var = sum (x - mean x)^2 / (count - correction). */
#include "ops/reduce.h"

#include "ops/elementwise.h"
#include "ops/kernel.h"
#include "ops/reduce_pass.h"
#include "ops/registry.h"
#include "ops/unary.h"

static tg_tensor *variance(tg_tape *t, tg_tensor *x, const int *axes, int n_axes, bool keepdim, double divisor) {
    tg_tensor *centered = tg_sub(t, x, tg_mean(t, x, axes, n_axes, true));
    return tg_mul_scalar(t, tg_sum(t, tg_square(t, centered), axes, n_axes, keepdim), 1.0 / divisor);
}

tg_tensor *tg_var(tg_tape *t, tg_tensor *x, const int *axes, int n_axes, bool keepdim, bool unbiased) {
    if (!tg_check_inputs(t, "tg_var", 1, &x)) return NULL;
    bool reduced[TG_MAX_DIMS];
    if (!tg_check_axes(t, "tg_var", x, axes, n_axes, reduced)) return NULL;
    double divisor = (double)tg_reduced_count(x, reduced) - (unbiased ? 1.0 : 0.0);
    tg_tensor *y;
    TG_IN_FUSED_SCOPE(t, "var", y, variance(t, x, axes, n_axes, keepdim, divisor));
    return y;
}

/* ---- registry entries ---- */
static tg_status sample_3d(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(2, 3, 4), 0.1, 1.5);
    return tg_tape_status(t);
}
static tg_tensor *apply_all(tg_tape *t, tg_tensor **in) { return tg_var(t, in[0], NULL, 0, false, true); }
static tg_tensor *apply_axis_biased(tg_tape *t, tg_tensor **in) {
    return tg_var(t, in[0], (const int[]){1}, 1, true, false);
}
static tg_tensor *apply_axes(tg_tape *t, tg_tensor **in) {
    return tg_var(t, in[0], (const int[]){0, -1}, 2, false, true);
}

const tg_op_spec tg_spec_var_all = {"var", "tg_var", 1, sample_3d, apply_all};
const tg_op_spec tg_spec_var_axis_biased = {"var(axis=1,keepdim,biased)", "tg_var", 1, sample_3d, apply_axis_biased};
const tg_op_spec tg_spec_var_axes = {"var(axes=0,-1)", "tg_var", 1, sample_3d, apply_axes};
