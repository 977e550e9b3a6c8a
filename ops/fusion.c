/* Fusion (see ops/fusion.h and docs/fusion.md).
 *
 * In a fusion scope a pointwise op records a STEP instead of computing: a
 * tg_node (op, inputs, attributes, output) that is not on the tape, plus the
 * op's row functions. Its output is a pending tensor (->data NULL) whose
 * ->node is the step. Steps chain into an expression over computed tensors
 * (the LEAVES). A PASS computes some pending tensors of one shape (the
 * iteration space) and sums over it: chunk by chunk, every step's row
 * function writes its values into a register (a chunk-sized buffer), reading
 * leaves in place with broadcast strides and earlier steps from their
 * registers; outputs are copied out of their registers, sums accumulate them
 * with the partition tg_sum uses. Each computed tensor is then recorded as
 * one node: the plain op when its expression is one step over leaves, else
 * a "fused" node holding its steps, whose backward rule runs theirs. */
#include "ops/fusion_private.h"

#include "ops/reduce_pass.h"

static int64_t fusion_min = TG_FUSION_MIN;
void tg_set_fusion_min(int64_t min_elements) { fusion_min = min_elements < 0 ? 0 : min_elements; }
int64_t tg_fusion_min(void) { return fusion_min; }
bool tg_fusing(const tg_tape *t) { return fusion_min != TG_FUSION_OFF && tg_tape_fusion_depth(t) > 0; }
bool tg_is_pending(const tg_tensor *x) { return x && !x->data; }

bool tg_fuse_sums(const tg_tensor *sum, const tg_tensor *values) {
    return tg_is_pending(sum) && tg_is_pending(values) && tg_step_of(sum)->kind == STEP_SUM &&
           tg_values_of(sum) == values;
}

static fusion_state *state_of(tg_tape *t) {
    fusion_state *s = tg_tape_fusion_state(t);
    if (!s && (s = tg_tape_alloc(t, sizeof *s))) {
        memset(s, 0, sizeof *s);
        tg_tape_set_fusion_state(t, s);
    }
    return s;
}


/* ---- steps ---- */

/* Whether x's steps run in the pass of a pointwise step of `shape` that reads
 * it: x is pending, pointwise, of that very shape. A pending sum (complete
 * only at the end of its own pass) or a pending tensor of another shape (it
 * broadcasts: computed once, not once per element) is computed before that
 * pass instead, when the pass runs: by then it may share the pass of the
 * data it is made of (a bias gradient, summed while the layer's gradient is
 * computed for the matmul). */
bool tg_joins_pass(const tg_tensor *x, int ndim, const int64_t *shape) {
    return tg_is_pending(x) && tg_step_of(x)->kind == STEP_POINTWISE && tg_same_dims(x, ndim, shape);
}

/* A new step out = op(inputs) with a pending output of `shape`. */
static tg_tensor *new_step(tg_tape *t, const tg_op *op, step_kind kind, int n, tg_tensor *const *in, int ndim,
                           const int64_t *shape, const void *attrs, size_t attrs_size) {
    fusion_state *state = state_of(t);
    fuse_step *s = tg_tape_alloc(t, sizeof *s);
    tg_tensor **inputs = tg_tape_alloc(t, sizeof(tg_tensor *) * (size_t)n);
    uint64_t *versions = tg_tape_alloc(t, sizeof(uint64_t) * (size_t)n);
    void *attr_copy = attrs_size ? tg_tape_alloc(t, attrs_size) : NULL;
    tg_tensor *out = tg_tape_pending_result(t, in[0]->dtype, ndim, shape);
    if (!state || !s || !inputs || !versions || (attrs_size && !attr_copy) || !out) return NULL;
    memset(s, 0, sizeof *s);
    bool recording = tg_tape_grad_enabled(t);
    s->steps = 1;
    for (int i = 0; i < n; i++) {
        inputs[i] = in[i];
        versions[i] = in[i]->version;
        out->requires_grad |= recording && in[i]->requires_grad;
        bool joins = tg_joins_pass(in[i], ndim, shape);
        s->steps += joins ? tg_step_of(in[i])->steps : 0;
        s->leaves += joins ? tg_step_of(in[i])->leaves : 1;
        if (tg_is_pending(in[i])) tg_step_of(in[i])->consumers++;
    }
    if (attrs_size) memcpy(attr_copy, attrs, attrs_size);
    s->node = (tg_node){.op = op,
                        .n_inputs = n,
                        .inputs = inputs,
                        .input_versions = versions,
                        .output = out,
                        .output_version = out->version,
                        .attrs = attr_copy,
                        .attrs_size = attrs_size,
                        .scope = tg_tape_scope(t),
                        .index = -1,
                        .in_backward = tg_tape_in_backward(t)};
    s->kind = kind;
    s->serial = state->serial++;
    s->recorded = recording;
    out->node = &s->node;
    return out;
}

/* An expression that would grow past a pass is cut: its inputs computed now. */
static bool settle_inputs(tg_tape *t, int n, tg_tensor *const *in, int ndim, const int64_t *shape) {
    int steps = 1, leaves = 0;
    for (int i = 0; i < n; i++) {
        bool joins = tg_joins_pass(in[i], ndim, shape);
        steps += joins ? tg_step_of(in[i])->steps : 0;
        leaves += joins ? tg_step_of(in[i])->leaves : 1;
    }
    if (steps > MAX_STEPS || leaves > MAX_LEAVES) return tg_fuse_realize(t, n, in) == TG_OK;
    return true;
}

bool tg_fuse_pointwise(tg_tape *t, const tg_op *op, tg_row_fn f32, tg_row_fn f64, int n, tg_tensor *const *in,
                       int ndim, const int64_t *shape, const void *attrs, size_t attrs_size, tg_tensor **out) {
    /* a tape that never fused since reset has no pending tensor: nothing to look at */
    if (!tg_tape_fusion_state(t) && !tg_fusing(t)) {
        *out = NULL;
        return false;
    }
    int64_t numel = tg_shape_numel(ndim, shape);
    bool pending_input = false;
    for (int i = 0; i < n; i++) pending_input |= tg_is_pending(in[i]);
    /* small ops compute at once, unless they read a pending value: waiting
     * then costs nothing, and the value may later share a pass */
    if (!tg_fusing(t) || numel == 0 || (numel < fusion_min && !pending_input)) {
        *out = NULL;
        return pending_input && tg_fuse_realize(t, n, in) != TG_OK; /* true + NULL: failed */
    }
    *out = settle_inputs(t, n, in, ndim, shape) ? new_step(t, op, STEP_POINTWISE, n, in, ndim, shape, attrs, attrs_size)
                                                : NULL;
    if (*out) {
        tg_step_of(*out)->row[0] = f32;
        tg_step_of(*out)->row[1] = f64;
    }
    return true;
}

bool tg_fuse_sum_waits(tg_tape *t, const tg_tensor *x, const bool reduced[TG_MAX_DIMS]) {
    int64_t passes[TG_MAX_DIMS][3];
    return tg_fusing(t) && tg_is_pending(x) && tg_step_of(x)->kind == STEP_POINTWISE &&
           tg_reduce_passes(x, reduced, passes) == 1; /* one [outer, R, inner] view only */
}

tg_tensor *tg_fuse_sum(tg_tape *t, const tg_op *op, tg_tensor *x, const bool reduced[TG_MAX_DIMS], double scale,
                       int ndim, const int64_t *shape, const void *attrs, size_t attrs_size) {
    tg_tensor *out = new_step(t, op, STEP_SUM, 1, &x, ndim, shape, attrs, attrs_size);
    if (!out) return NULL;
    fuse_step *s = tg_step_of(out);
    memcpy(s->reduced, reduced, sizeof s->reduced);
    s->scale = scale;
    fusion_state *state = state_of(t);
    state->sums[state->next_sum] = out;
    state->next_sum = (state->next_sum + 1) % MAX_PENDING_SUMS;
    return out;
}

/* A sum whose data got computed meanwhile: tg_sum's own kernel. */
static tg_status plain_sum(tg_tape *t, tg_tensor *y, void *dst, bool add) {
    const fuse_step *s = tg_step_of(y);
    tg_tensor *x = s->node.inputs[0];
    tg_tensor *into = dst && !add ? &(tg_tensor){.dtype = y->dtype, .numel = y->numel, .data = dst}
                                  : tg_tape_result(t, y->dtype, y->ndim, y->shape);
    if (!into || !tg_sum_into(t, x, s->reduced, into, s->scale)) return tg_tape_status(t);
    if (dst && add) {
        for (int64_t i = 0; i < y->numel; i++) {
            if (y->dtype == TG_F32)
                ((float *)dst)[i] += ((const float *)into->data)[i];
            else
                ((double *)dst)[i] += ((const double *)into->data)[i];
        }
        return TG_OK;
    }
    if (dst) return TG_OK;
    y->data = into->data;
    if (!s->recorded) {
        y->node = NULL;
        return TG_OK;
    }
    y->node = NULL;
    bool was = tg_tape_set_grad_enabled(t, true);
    tg_tensor *r = tg_tape_record(t, s->node.op, 1, &x, y, s->node.attrs, s->node.attrs_size);
    tg_tape_set_grad_enabled(t, was);
    return r ? TG_OK : tg_tape_status(t);
}

/* Computes what x's expression needs before its pass can run: pending sums
 * and pending tensors of another shape that its steps read. */
static tg_status realize_inputs_of(tg_tape *t, const tg_tensor *x) {
    const tg_tensor *stack[MAX_STEPS];
    const fuse_step *seen[MAX_STEPS];
    int depth = 0, n_seen = 0;
    stack[depth++] = tg_values_of(x);
    while (depth > 0) {
        const tg_tensor *v = stack[--depth];
        const fuse_step *s = tg_step_of(v);
        bool visited = false;
        for (int k = 0; k < n_seen && !visited; k++) visited = seen[k] == s;
        if (visited || n_seen == MAX_STEPS) continue;
        seen[n_seen++] = s;
        for (int j = 0; j < s->node.n_inputs; j++) {
            tg_tensor *in = s->node.inputs[j];
            if (!tg_is_pending(in)) continue;
            if (tg_joins_pass(in, v->ndim, v->shape)) {
                if (depth < MAX_STEPS) stack[depth++] = in;
            } else if (tg_fuse_realize(t, 1, &in)) {
                return tg_tape_status(t);
            }
        }
    }
    return TG_OK;
}

static tg_status realize(tg_tape *t, int n, tg_tensor *const *xs, void *const *dsts, const bool *adds) {
    /* computed into dsts, the xs stay pending: done[] says which are */
    bool *done = dsts && n ? tg_tape_alloc(t, sizeof(bool) * (size_t)n) : NULL;
    if (dsts && n && !done) return tg_tape_status(t);
    if (done) memset(done, 0, sizeof(bool) * (size_t)n);
    for (int i = 0; i < n; i++) {
        tg_tensor *x = xs[i];
        if (!tg_is_pending(x) || (done && done[i])) continue;
        if (tg_is_pending(tg_values_of(x)) && realize_inputs_of(t, x)) return tg_tape_status(t);
        if (tg_step_of(x)->kind == STEP_SUM && !tg_is_pending(tg_values_of(x))) {
            tg_status st = plain_sum(t, x, dsts ? dsts[i] : NULL, adds && adds[i]);
            if (st) return st;
            continue;
        }
        pass *p = tg_tape_alloc(t, sizeof *p);
        if (!p) return tg_tape_status(t);
        memset(p, 0, sizeof *p);
        bool fits = tg_pass_add_output(p, x, dsts ? dsts[i] : NULL, adds && adds[i]);
        TG_INVARIANT(fits); /* an expression never outgrows a pass (settle_inputs) */
        /* the others of the same space join when they fit; a later round takes the rest */
        for (int j = i + 1; j < n; j++)
            if (tg_is_pending(xs[j]) && !(done && done[j]) && tg_pass_add_output(p, xs[j], dsts ? dsts[j] : NULL, adds && adds[j]) && done)
                done[j] = true;
        if (!dsts) {
            tg_pass_add_sibling_sums(t, p);
            tg_pass_add_shared_values(p);
        }
        tg_status st = tg_pass_prepare(t, p);
        for (int o = 0; !st && o < p->n_outputs; o++) {
            output *out = &p->outputs[o];
            if (!out->dst) {
                out->dst = tg_tape_alloc(t, (size_t)out->y->numel * p->es);
                if (!out->dst) st = tg_tape_status(t);
            }
        }
        for (int o = 0; !st && o < p->n_outputs; o++) {
            const output *out = &p->outputs[o];
            if (!out->sum && !out->add && !p->in_place[out->value]) p->in_place[out->value] = (unsigned char *)out->dst;
        }
        if (!st) st = tg_pass_evaluate(t, p);
        for (int k = 0; k < p->n_steps; k++) p->steps[k]->evaluated = true;
        for (int o = 0; !st && !dsts && o < p->n_outputs; o++) p->outputs[o].y->data = p->outputs[o].dst;
        /* recorded in creation order: a stored value before the outputs that read it */
        int order[MAX_OUTPUTS];
        for (int o = 0; o < p->n_outputs; o++) {
            int k = o;
            for (; k > 0 && tg_root_of(&p->outputs[order[k - 1]])->serial > tg_root_of(&p->outputs[o])->serial; k--)
                order[k] = order[k - 1];
            order[k] = o;
        }
        for (int o = 0; !st && !dsts && o < p->n_outputs; o++) st = tg_pass_record(t, p, &p->outputs[order[o]]);
        if (st) return st;
    }
    return TG_OK;
}

tg_status tg_fuse_realize(tg_tape *t, int n, tg_tensor *const *xs) {
    if (!t) return tg_set_error(TG_ERR_ARG, "tg_fuse_realize: tape is NULL");
    bool pending = false;
    for (int i = 0; i < n; i++) {
        if (!xs[i] || !tg_is_pending(xs[i])) continue;
        if (xs[i]->tape != t)
            return tg_tape_fail(t, TG_ERR_ARG, "tg_fuse_realize: tensor %d belongs to another tape", i);
        pending = true;
    }
    return pending ? realize(t, n, xs, NULL, NULL) : TG_OK;
}

tg_status tg_fuse_realize_into(tg_tape *t, int n, tg_tensor *const *xs, void *const *dsts, const bool *adds) {
    return realize(t, n, xs, dsts, adds);
}

void tg_fuse_visit_leaves(tg_tensor *x, uint64_t visit, void (*leaf)(void *context, const tg_tensor *x),
                          void *context) {
    if (!tg_is_pending(x)) {
        leaf(context, x);
        return;
    }
    fuse_step *s = tg_step_of(x);
    if (s->visited == visit) return;
    s->visited = visit;
    for (int j = 0; j < s->node.n_inputs; j++) tg_fuse_visit_leaves(s->node.inputs[j], visit, leaf, context);
}

tg_status tg_fuse_begin(tg_tape *t) {
    if (!t) return tg_set_error(TG_ERR_ARG, "tg_fuse_begin: tape is NULL");
    tg_tape_set_fusion_depth(t, tg_tape_fusion_depth(t) + 1);
    return TG_OK;
}

tg_status tg_fuse_end(tg_tape *t, int n, tg_tensor *const *results) {
    if (!t) return tg_set_error(TG_ERR_ARG, "tg_fuse_end: tape is NULL");
    int depth = tg_tape_fusion_depth(t);
    if (depth == 0) return tg_tape_fail(t, TG_ERR_STATE, "tg_fuse_end: no fusion scope is open");
    tg_tape_set_fusion_depth(t, depth - 1);
    if (depth > 1 || n == 0) return TG_OK;
    if (!results) return tg_tape_fail(t, TG_ERR_ARG, "tg_fuse_end: results is NULL for %d results", n);
    return realize(t, n, results, NULL, NULL);
}
