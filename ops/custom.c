/* tg_custom: runs a user-defined op's shape rule and forward kernel, then
 * records it like any built-in op (the engine calls op->op.backward). */
#include "ops/custom.h"

#include <stdio.h>
#include <string.h>

#include "ops/kernel.h"

tg_tensor *tg_custom(tg_tape *t, const tg_custom_op *op, int n, tg_tensor *const *inputs, const void *attrs,
                     size_t attrs_size) {
    if (!t) {
        tg_set_error(TG_ERR_ARG, "tg_custom: tape is NULL");
        return NULL;
    }
    if (!op || !op->op.name || !op->op.backward || !op->forward) {
        tg_tape_fail(t, TG_ERR_ARG,
                     "tg_custom: op '%s' is incomplete: it needs a name, a backward rule and a forward kernel",
                     op && op->op.name ? op->op.name : "(NULL)");
        return NULL;
    }
    char who[96];
    snprintf(who, sizeof who, "tg_custom(%s)", op->op.name);
    if (n < 0 || (n > 0 && !inputs)) {
        tg_tape_fail(t, TG_ERR_ARG, "%s: %d inputs given%s", who, n, n > 0 ? " but inputs is NULL" : "");
        return NULL;
    }
    if (op->op.arity >= 0 && n != op->op.arity) {
        tg_tape_fail(t, TG_ERR_ARG, "%s: takes %d input%s, got %d", who, op->op.arity, op->op.arity == 1 ? "" : "s", n);
        return NULL;
    }
    bool inputs_ok = tg_check_inputs(t, who, n, inputs);
    tg_tape_set_op(t, op->op.name); /* `who` lives on this stack frame: the tape keeps the op's own name */
    if (!inputs_ok) return NULL;
    if (attrs_size && !attrs) {
        tg_tape_fail(t, TG_ERR_ARG, "%s: attrs is NULL but attrs_size is %zu", who, attrs_size);
        return NULL;
    }

    tg_dtype dtype = n ? inputs[0]->dtype : TG_F64;
    int ndim = n ? inputs[0]->ndim : 0;
    int64_t shape[TG_MAX_DIMS] = {0};
    char buf[400];
    if (op->shape) {
        tg_set_error(TG_OK, "%s", "");
        tg_status st = op->shape((const tg_tensor *const *)inputs, n, attrs, &dtype, &ndim, shape);
        if (st) {
            tg_tape_fail(t, st, "%s: the shape rule refused %s: %s", who, tg_inputs_desc(n, inputs, buf, sizeof buf),
                         tg_last_error()[0] ? tg_last_error() : "(no reason given)");
            return NULL;
        }
        if (dtype != TG_F32 && dtype != TG_F64) {
            tg_tape_fail(t, TG_ERR_DTYPE, "%s: the shape rule gave an unknown dtype %d", who, (int)dtype);
            return NULL;
        }
        tg_status bad = tg_check_shape(who, ndim, shape);
        if (bad) {
            tg_tape_fail(t, bad, "%s (from the shape rule)", tg_last_error());
            return NULL;
        }
    } else if (n == 0) {
        tg_tape_fail(t, TG_ERR_ARG, "%s: has no shape rule and no input to take the shape from", who);
        return NULL;
    } else {
        memcpy(shape, inputs[0]->shape, sizeof shape);
    }
    tg_tensor *y = tg_tape_result(t, dtype, ndim, shape);
    if (!y) return NULL;
    if (y->numel) op->forward((const tg_tensor *const *)inputs, n, y, attrs);
    return tg_tape_record(t, &op->op, n, inputs, y, attrs, attrs_size);
}
