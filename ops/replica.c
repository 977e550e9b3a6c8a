/* tg_replica_sum: the sum of a tensor over the replicas of a data-parallel
 * run (see ops/replica.h). The summing itself is the hook's (r->sum). */
#include "ops/replica.h"

#include <string.h>

#include "ops/describe.h"
#include "ops/kernel.h"
#include "ops/registry.h"

typedef struct {
    const tg_replicas *replicas; /* outlives the tape (the caller's promise) */
} replica_attrs;

static tg_status replica_sum_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    const replica_attrs *a = node->attrs;
    if (node->inputs[0]->requires_grad) gi[0] = tg_replica_sum(t, g, a->replicas);
    return tg_tape_status(t);
}

/* "replicas=2": the attribute that changes the value (never the hook's address) */
static int replica_sum_describe(const tg_node *node, char *buf, size_t size) {
    const replica_attrs *a = node->attrs;
    tg_text s = tg_text_on(buf, size);
    tg_text_printf(&s, "replicas=%d", a->replicas->size);
    return tg_text_length(&s);
}

static const tg_op replica_sum_op = {"replica_sum", 1, replica_sum_backward, replica_sum_describe};

tg_tensor *tg_replica_sum(tg_tape *t, tg_tensor *x, const tg_replicas *r) {
    if (!tg_check_inputs(t, "tg_replica_sum", 1, &x)) return NULL;
    if (!r || !r->sum || r->size < 1) {
        tg_tape_fail(t, TG_ERR_ARG, "tg_replica_sum: the replicas of %s are NULL or incomplete", TG_DESC(x));
        return NULL;
    }
    tg_tensor *y = tg_tape_result(t, x->dtype, x->ndim, x->shape);
    if (!y) return NULL;
    memcpy(y->data, x->data, (size_t)x->numel * tg_dtype_size(x->dtype));
    tg_status st = r->sum(r->user, x->dtype, y->data, y->numel, false);
    if (st) {
        tg_tape_fail(t, st, "tg_replica_sum: %s over %d replicas: %s", TG_DESC(x), r->size, tg_last_error());
        return NULL;
    }
    replica_attrs attrs = {r};
    return tg_tape_record(t, &replica_sum_op, 1, &x, y, &attrs, sizeof attrs);
}

/* ---- registry entry: a process alone, where the sum is the identity ---- */
static tg_status sample_replica_sum(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(2, 3), 0.1, 2.0);
    return tg_tape_status(t);
}
static tg_tensor *apply_replica_sum(tg_tape *t, tg_tensor **in) {
    return tg_replica_sum(t, in[0], tg_replicas_single());
}
const tg_op_spec tg_spec_replica_sum = {"replica_sum", "tg_replica_sum", 1, sample_replica_sum, apply_replica_sum};
