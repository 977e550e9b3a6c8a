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
#include "ops/fusion.h"

#include <string.h>

#include "ops/describe.h"
#include "ops/elementwise.h"
#include "ops/kernel.h"
#include "ops/reduce_pass.h"

enum {
    MAX_STEPS = 32,       /* steps of one pass: a longer chain computes its input first */
    MAX_LEAVES = 16,      /* tensors one pass reads */
    MAX_OUTPUTS = 8,      /* tensors one pass computes */
    CHUNK = 512,          /* elements per register (registers of a pass stay in L1) */
    TASK = 8192,          /* elements per parallel task without a sum */
    MAX_PENDING_SUMS = 16 /* recent pending sums, which may share the pass of the data they sum */
};

typedef enum { STEP_POINTWISE, STEP_SUM } step_kind;

typedef struct fuse_step {
    tg_node node;              /* first member: a pending tensor's ->node points here */
    step_kind kind;
    tg_row_fn row[2];          /* pointwise: the op's f32 and f64 row functions (attrs: node.attrs) */
    bool reduced[TG_MAX_DIMS]; /* sum: axes of the input summed, */
    double scale;              /*      times scale (1 / count for a mean) */
    int64_t serial;            /* creation order: sorting by it gives a topological order */
    int steps, leaves;         /* upper bounds for the expression that ends here */
    int consumers;             /* steps that read its output */
    bool recorded;             /* recording was on when the op ran */
    bool evaluated;            /* a pass computed it already (later passes recompute it) */
    uint64_t visited;          /* the last tg_fuse_visit_leaves that went through it */
} fuse_step;

typedef struct {
    int64_t serial;
    tg_tensor *sums[MAX_PENDING_SUMS]; /* ring of pending sums */
    int next_sum;
} fusion_state;

static int64_t fusion_min = TG_FUSION_MIN;
void tg_set_fusion_min(int64_t min_elements) { fusion_min = min_elements < 0 ? 0 : min_elements; }
int64_t tg_fusion_min(void) { return fusion_min; }
bool tg_fusing(const tg_tape *t) { return fusion_min != TG_FUSION_OFF && tg_tape_fusion_depth(t) > 0; }
bool tg_is_pending(const tg_tensor *x) { return x && !x->data; }
static fuse_step *step_of(const tg_tensor *x) { return (fuse_step *)x->node; }

static fusion_state *state_of(tg_tape *t) {
    fusion_state *s = tg_tape_fusion_state(t);
    if (!s && (s = tg_tape_alloc(t, sizeof *s))) {
        memset(s, 0, sizeof *s);
        tg_tape_set_fusion_state(t, s);
    }
    return s;
}

static bool same_dims(const tg_tensor *x, int ndim, const int64_t *shape) {
    if (x->ndim != ndim) return false;
    for (int i = 0; i < ndim; i++)
        if (x->shape[i] != shape[i]) return false;
    return true;
}

/* ---- steps ---- */

/* Whether x's steps run in the pass of a pointwise step of `shape` that reads
 * it: x is pending, pointwise, of that very shape. A pending sum (complete
 * only at the end of its own pass) or a pending tensor of another shape (it
 * broadcasts: computed once, not once per element) is computed before that
 * pass instead, when the pass runs: by then it may share the pass of the
 * data it is made of (a bias gradient, summed while the layer's gradient is
 * computed for the matmul). */
static bool joins_pass(const tg_tensor *x, int ndim, const int64_t *shape) {
    return tg_is_pending(x) && step_of(x)->kind == STEP_POINTWISE && same_dims(x, ndim, shape);
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
        bool joins = joins_pass(in[i], ndim, shape);
        s->steps += joins ? step_of(in[i])->steps : 0;
        s->leaves += joins ? step_of(in[i])->leaves : 1;
        if (tg_is_pending(in[i])) step_of(in[i])->consumers++;
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
        bool joins = joins_pass(in[i], ndim, shape);
        steps += joins ? step_of(in[i])->steps : 0;
        leaves += joins ? step_of(in[i])->leaves : 1;
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
        step_of(*out)->row[0] = f32;
        step_of(*out)->row[1] = f64;
    }
    return true;
}

bool tg_fuse_sum_waits(tg_tape *t, const tg_tensor *x, const bool reduced[TG_MAX_DIMS]) {
    int64_t passes[TG_MAX_DIMS][3];
    return tg_fusing(t) && tg_is_pending(x) && step_of(x)->kind == STEP_POINTWISE &&
           tg_reduce_passes(x, reduced, passes) == 1; /* one [outer, R, inner] view only */
}

tg_tensor *tg_fuse_sum(tg_tape *t, const tg_op *op, tg_tensor *x, const bool reduced[TG_MAX_DIMS], double scale,
                       int ndim, const int64_t *shape, const void *attrs, size_t attrs_size) {
    tg_tensor *out = new_step(t, op, STEP_SUM, 1, &x, ndim, shape, attrs, attrs_size);
    if (!out) return NULL;
    fuse_step *s = step_of(out);
    memcpy(s->reduced, reduced, sizeof s->reduced);
    s->scale = scale;
    fusion_state *state = state_of(t);
    state->sums[state->next_sum] = out;
    state->next_sum = (state->next_sum + 1) % MAX_PENDING_SUMS;
    return out;
}

/* ---- passes ---- */

typedef struct {
    tg_tensor *y;        /* the tensor computed */
    const fuse_step *sum; /* its sum step, or NULL: y is the values of step `value` */
    int value;           /* the step whose values y takes or sums */
    char *dst;           /* where they go */
    bool add;            /* dst += values (the engine accumulating a gradient) */
} output;

typedef struct {
    tg_dtype dtype;
    size_t es;
    int ndim; /* the iteration space */
    int64_t shape[TG_MAX_DIMS], numel;
    int n_steps; /* pointwise steps, in creation order */
    fuse_step *steps[MAX_STEPS];
    int source[MAX_STEPS][3]; /* input j of step s: step index >= 0, or leaf -1 - l */
    int n_leaves;
    tg_tensor *leaves[MAX_LEAVES];
    /* the iteration space as merged dimensions, and each leaf's strides over them */
    int lnd;
    int64_t lshape[TG_MAX_DIMS], lstride[MAX_LEAVES][TG_MAX_DIMS];
    int n_outputs, n_sums;
    output outputs[MAX_OUTPUTS];
    unsigned char *in_place[MAX_STEPS]; /* the output memory a step writes straight into, or NULL */
    int alias[MAX_STEPS];               /* a copy of leaf l (broadcast_to): read the leaf itself; or -1 */
    /* the one reduction all sums share: the space viewed as [outer, R, inner] */
    bool reduced[TG_MAX_DIMS];
    int64_t outer, R, inner;
} pass;

static int step_index(const pass *p, const fuse_step *s) {
    for (int k = 0; k < p->n_steps; k++)
        if (p->steps[k] == s) return k;
    return -1;
}

static int leaf_index(const pass *p, const tg_tensor *x) {
    for (int l = 0; l < p->n_leaves; l++)
        if (p->leaves[l] == x) return l;
    return -1;
}

/* Adds x's expression (its pending steps and the leaves they read); false
 * when the pass has no room left, or x needs a pending value computed first. */
static bool collect(pass *p, tg_tensor *x) {
    if (!tg_is_pending(x)) {
        if (leaf_index(p, x) >= 0) return true;
        if (p->n_leaves == MAX_LEAVES) return false;
        p->leaves[p->n_leaves++] = x;
        return true;
    }
    if (!joins_pass(x, p->ndim, p->shape)) return false;
    fuse_step *s = step_of(x);
    if (step_index(p, s) >= 0) return true;
    if (p->n_steps == MAX_STEPS) return false;
    p->steps[p->n_steps++] = s;
    for (int j = 0; j < s->node.n_inputs; j++)
        if (!collect(p, s->node.inputs[j])) return false;
    return true;
}

/* The values x takes or sums: its step for a pointwise x, the step summed for a sum. */
static tg_tensor *values_of(const tg_tensor *x) {
    fuse_step *s = step_of(x);
    return s->kind == STEP_SUM ? s->node.inputs[0] : (tg_tensor *)x;
}

/* Adds pending x to the pass if it fits (same dtype and iteration space, the
 * same reduction as the pass's other sums, room left); false otherwise, with
 * the pass unchanged. */
static bool add_output(pass *p, tg_tensor *x, void *dst, bool add) {
    if (p->n_outputs == MAX_OUTPUTS || leaf_index(p, x) >= 0) return false;
    for (int o = 0; o < p->n_outputs; o++)
        if (p->outputs[o].y == x) return false;
    const fuse_step *s = step_of(x);
    const tg_tensor *v = values_of(x);
    if (p->n_outputs == 0) {
        p->dtype = x->dtype;
        p->es = tg_dtype_size(x->dtype);
        p->ndim = v->ndim;
        memcpy(p->shape, v->shape, sizeof(int64_t) * (size_t)v->ndim);
        p->numel = v->numel;
    } else if (x->dtype != p->dtype || !same_dims(v, p->ndim, p->shape)) {
        return false;
    }
    if (s->kind == STEP_SUM && p->n_sums > 0 && memcmp(s->reduced, p->reduced, sizeof p->reduced) != 0) return false;
    int steps = p->n_steps, leaves = p->n_leaves;
    if (!collect(p, (tg_tensor *)v)) {
        p->n_steps = steps; /* roll back */
        p->n_leaves = leaves;
        return false;
    }
    if (s->kind == STEP_SUM && p->n_sums++ == 0) {
        memcpy(p->reduced, s->reduced, sizeof p->reduced);
        int64_t passes[TG_MAX_DIMS][3];
        tg_reduce_passes(v, s->reduced, passes);
        p->outer = passes[0][0];
        p->R = passes[0][1];
        p->inner = passes[0][2];
    }
    p->outputs[p->n_outputs++] = (output){x, s->kind == STEP_SUM ? s : NULL, -1, dst, add};
    return true;
}

/* Recent pending sums over the same space join the pass: one read of the data
 * gives them all (batchnorm's backward sums three products of g at once). */
static void add_sibling_sums(tg_tape *t, pass *p) {
    fusion_state *state = tg_tape_fusion_state(t);
    for (int i = 0; state && i < MAX_PENDING_SUMS; i++) {
        tg_tensor *x = state->sums[i];
        if (x && tg_is_pending(x) && tg_is_pending(values_of(x))) add_output(p, x, NULL, false);
    }
}

/* A value that needs a gradient and is read by steps outside this pass too
 * is stored by it and recorded as its own node: its gradient is then summed
 * over its readers before going further back, as without fusion, which keeps
 * gradients bit for bit those of the ops one by one (batchnorm's x - mean
 * feeds the variance's pass and the output's). Readers that come after its
 * first pass (a backward rule reading a forward value) recompute it. */
static void add_shared_values(pass *p) {
    int readers[MAX_STEPS] = {0};
    for (int k = 0; k < p->n_steps; k++)
        for (int j = 0; j < p->steps[k]->node.n_inputs; j++) {
            tg_tensor *x = p->steps[k]->node.inputs[j];
            int i = tg_is_pending(x) ? step_index(p, step_of(x)) : -1;
            if (i >= 0) readers[i]++;
        }
    for (int o = 0; o < p->n_outputs; o++)
        if (p->outputs[o].sum) readers[step_index(p, step_of(values_of(p->outputs[o].y)))]++;
    for (int k = 0; k < p->n_steps; k++) {
        const fuse_step *s = p->steps[k];
        /* (once a pass has computed it, it is inside that pass's node: recomputing is all that is left) */
        if (s->recorded && !s->evaluated && s->node.output->requires_grad && s->consumers > readers[k])
            add_output(p, s->node.output, NULL, false);
    }
}

/* Steps in creation order (a topological order), their sources, the check
 * that no leaf changed in place since a step read it, and the layout. */
static tg_status prepare(tg_tape *t, pass *p) {
    for (int i = 1; i < p->n_steps; i++) /* insertion sort: a few dozen at most */
        for (int k = i; k > 0 && p->steps[k - 1]->serial > p->steps[k]->serial; k--) {
            fuse_step *tmp = p->steps[k];
            p->steps[k] = p->steps[k - 1];
            p->steps[k - 1] = tmp;
        }
    for (int k = 0; k < p->n_steps; k++) {
        const tg_node *node = &p->steps[k]->node;
        for (int j = 0; j < 3; j++) p->source[k][j] = 0;
        for (int j = 0; j < node->n_inputs; j++) {
            const tg_tensor *x = node->inputs[j];
            if (tg_is_pending(x)) {
                p->source[k][j] = step_index(p, step_of(x));
                continue;
            }
            p->source[k][j] = -1 - leaf_index(p, x);
            if (x->version != node->input_versions[j])
                return tg_tape_fail(t, TG_ERR_STATE,
                                    "%s: input %d (%s) was modified in place after the op read it and before its "
                                    "fused pass ran; realize the result first (tg_fuse_realize)",
                                    node->op->name, j, TG_DESC(x));
        }
    }
    for (int o = 0; o < p->n_outputs; o++) p->outputs[o].value = step_index(p, step_of(values_of(p->outputs[o].y)));
    /* a step that copies a leaf (broadcast_to) computes nothing: its readers
     * read the leaf through its broadcast strides (the same values) */
    for (int k = 0; k < p->n_steps; k++) {
        const fuse_step *st = p->steps[k];
        p->alias[k] = st->row[0] == tg_row_copy_f32 && p->source[k][0] < 0 ? -1 - p->source[k][0] : -1;
    }
    for (int o = 0; o < p->n_outputs; o++) p->alias[p->outputs[o].value] = -1; /* outputs are computed */
    /* each leaf's strides over the iteration space (0 where it broadcasts),
     * then adjacent dimensions merged where every leaf allows it */
    int64_t stride[MAX_LEAVES][TG_MAX_DIMS];
    for (int l = 0; l < p->n_leaves; l++) {
        const tg_tensor *x = p->leaves[l];
        int64_t s = 1;
        for (int i = p->ndim - 1; i >= 0; i--) {
            int j = x->ndim - p->ndim + i;
            int64_t d = j >= 0 ? x->shape[j] : 1;
            stride[l][i] = d == 1 ? 0 : s;
            s *= d;
        }
    }
    p->lnd = 0;
    for (int i = 0; i < p->ndim; i++) {
        if (p->shape[i] == 1) continue;
        int m = p->lnd;
        bool merge = m > 0;
        for (int l = 0; merge && l < p->n_leaves; l++)
            merge = stride[l][i] * p->shape[i] == p->lstride[l][m - 1] || (stride[l][i] == 0 && p->lstride[l][m - 1] == 0);
        if (merge) {
            p->lshape[m - 1] *= p->shape[i];
            for (int l = 0; l < p->n_leaves; l++) p->lstride[l][m - 1] = stride[l][i];
        } else {
            p->lshape[m] = p->shape[i];
            for (int l = 0; l < p->n_leaves; l++) p->lstride[l][m] = stride[l][i];
            p->lnd++;
        }
    }
    if (p->lnd == 0) {
        p->lnd = 1;
        p->lshape[0] = 1;
        for (int l = 0; l < p->n_leaves; l++) p->lstride[l][0] = 0;
    }
    return TG_OK;
}

/* What a computed chunk feeds: outputs are written, sums accumulated. */
typedef struct {
    const pass *p;
    tg_row_sum_state *segment;             /* sums of contiguous segments: each sum's row sum */
    int64_t column_start;                  /* sums down columns: */
    double *acc;                           /*   each sum's running totals, */
    int64_t acc_stride;                    /*   acc_stride apart */
} sink;

static void feed(sink *k, int64_t pos, int64_t n, unsigned char *const *regs) {
    const pass *p = k->p;
    size_t es = p->es;
    for (int o = 0, sum = 0; o < p->n_outputs; o++) {
        const output *out = &p->outputs[o];
        const unsigned char *v = regs[out->value];
        if (out->sum) {
            if (p->inner == 1) {
                if (p->dtype == TG_F32)
                    tg_row_sum_feed_f32(&k->segment[sum], (const float *)v, n);
                else
                    tg_row_sum_feed_f64(&k->segment[sum], (const double *)v, n);
            } else {
                double *acc = k->acc + sum * k->acc_stride + (pos - k->column_start);
                if (p->dtype == TG_F32)
                    for (int64_t i = 0; i < n; i++) acc[i] += (double)((const float *)v)[i];
                else
                    for (int64_t i = 0; i < n; i++) acc[i] += ((const double *)v)[i];
            }
            sum++;
        } else if (!out->add) {
            if (v != (const unsigned char *)out->dst + (size_t)pos * es) /* else written in place */
                memcpy(out->dst + (size_t)pos * es, v, (size_t)n * es);
        } else if (p->dtype == TG_F32) {
            float *d = (float *)out->dst + pos;
            for (int64_t i = 0; i < n; i++) d[i] += ((const float *)v)[i];
        } else {
            double *d = (double *)out->dst + pos;
            for (int64_t i = 0; i < n; i++) d[i] += ((const double *)v)[i];
        }
    }
}

/* Computes every step over the flat range [start, start + n) of the
 * iteration space, a chunk at a time, and feeds each chunk to k. A step whose
 * values are an output (written, not added) writes them in place. */
static void compute(const pass *p, int64_t start, int64_t n, unsigned char *regs, sink *k) {
    size_t es = p->es;
    int nd = p->lnd;
    int64_t inner = p->lshape[nd - 1];
    for (int64_t pos = start, end = start + n; pos < end;) {
        /* a run inside one row of the merged layout: leaves advance by their inner stride */
        int64_t row = nd > 1 ? pos / inner : 0, column = pos - row * inner;
        int64_t run = inner - column < end - pos ? inner - column : end - pos;
        int64_t offset[MAX_LEAVES];
        for (int l = 0; l < p->n_leaves; l++) offset[l] = column * p->lstride[l][nd - 1];
        for (int d = nd - 2; d >= 0; d--) {
            int64_t index = d > 0 ? row % p->lshape[d] : row;
            if (d > 0) row /= p->lshape[d];
            for (int l = 0; l < p->n_leaves; l++) offset[l] += index * p->lstride[l][d];
        }
        for (int64_t c = 0; c < run; c += CHUNK) {
            int64_t len = run - c < CHUNK ? run - c : CHUNK;
            unsigned char *reg[MAX_STEPS];
            for (int s = 0; s < p->n_steps; s++)
                reg[s] = p->in_place[s] ? p->in_place[s] + (size_t)(pos + c) * es : regs + (size_t)s * CHUNK * es;
            for (int s = 0; s < p->n_steps; s++) {
                const fuse_step *st = p->steps[s];
                if (p->alias[s] >= 0) continue;
                const void *in[3] = {NULL, NULL, NULL};
                int64_t stride[3] = {0, 0, 0};
                for (int j = 0; j < st->node.n_inputs; j++) {
                    int src = p->source[s][j];
                    if (src >= 0 && p->alias[src] >= 0) src = -1 - p->alias[src];
                    if (src >= 0) {
                        in[j] = reg[src];
                        stride[j] = 1;
                    } else {
                        int l = -1 - src;
                        stride[j] = p->lstride[l][nd - 1];
                        in[j] = (const char *)p->leaves[l]->data + (size_t)(offset[l] + c * stride[j]) * es;
                    }
                }
                st->row[p->dtype == TG_F64](len, reg[s], in, stride, st->node.attrs);
            }
            feed(k, pos + c, len, reg);
        }
        pos += run;
    }
}

/* y (one element of a sum) = value, or += it in the engine's accumulation */
static void put(const pass *p, const output *out, int64_t i, double value) {
    if (p->dtype == TG_F32) {
        float v = (float)value, *d = (float *)out->dst + i;
        *d = out->add ? *d + v : v;
    } else {
        double *d = (double *)out->dst + i;
        *d = out->add ? *d + value : value;
    }
}


/* Runs the pass; the partition of sums is tg_sum's (ops/reduce.c), so each
 * sum gets the bits tg_sum would give. */
static tg_status evaluate(tg_tape *t, pass *p) {
    size_t regs_bytes = (size_t)MAX_STEPS * CHUNK * sizeof(double);
    int64_t work = p->numel * (p->n_steps + p->n_outputs);
    int threads = tg_get_num_threads();
    if (p->n_sums == 0) {
        int64_t tasks = (p->numel + TASK - 1) / TASK;
        unsigned char *scratch = tg_tape_scratch(t, regs_bytes * (size_t)threads);
        if (!scratch) return tg_tape_status(t);
        TG_PARALLEL_FOR_WORK(task, tasks, work, {
            sink k = {p};
            int64_t start = task * TASK, n = p->numel - start < TASK ? p->numel - start : TASK;
            compute(p, start, n, scratch + regs_bytes * (size_t)tg_thread_index(), &k);
        });
        return TG_OK;
    }
    const output *sums[MAX_OUTPUTS];
    for (int o = 0, n = 0; o < p->n_outputs; o++)
        if (p->outputs[o].sum) sums[n++] = &p->outputs[o];
    if (p->inner == 1) {
        /* contiguous segments: the whole space in blocks (outer 1), else rows of R */
        int64_t length = p->outer == 1 ? tg_reduce_block(p->R) : p->R;
        int64_t segments = p->outer == 1 ? (p->R + length - 1) / length : p->outer;
        unsigned char *scratch = tg_tape_scratch(t, regs_bytes * (size_t)threads);
        double *partial = p->outer == 1 ? tg_tape_alloc(t, sizeof(double) * (size_t)(p->n_sums * segments)) : NULL;
        if (!scratch || (p->outer == 1 && !partial)) return tg_tape_status(t);
        TG_PARALLEL_FOR_WORK(task, segments, work, {
            int64_t start = task * length, n = p->outer * p->R - start < length ? p->outer * p->R - start : length;
            tg_row_sum_state row[MAX_OUTPUTS];
            for (int s = 0; s < p->n_sums; s++) tg_row_sum_start(&row[s]);
            sink k = {p, .segment = row};
            compute(p, start, n, scratch + regs_bytes * (size_t)tg_thread_index(), &k);
            for (int s = 0; s < p->n_sums; s++) {
                double v = tg_row_sum_finish(&row[s]);
                if (p->outer == 1)
                    partial[s * segments + task] = v;
                else
                    put(p, sums[s], task, v * sums[s]->sum->scale);
            }
        });
        for (int s = 0; p->outer == 1 && s < p->n_sums; s++) {
            double total = 0;
            for (int64_t b = 0; b < segments; b++) total += partial[s * segments + b];
            put(p, sums[s], 0, total * sums[s]->sum->scale);
        }
        return TG_OK;
    }
    /* down columns: blocks of columns, rows added in order. Each column's
     * total is its rows in order whatever the block width, so blocks are as
     * wide as a chunk (fewer, longer rows per call) while every thread still
     * gets some */
    int64_t cb = p->inner / threads;
    cb = cb < TG_REDUCE_COLUMN_BLOCK ? TG_REDUCE_COLUMN_BLOCK : cb > CHUNK ? CHUNK : cb;
    int64_t blocks = (p->inner + cb - 1) / cb;
    size_t per_thread = regs_bytes + sizeof(double) * (size_t)cb * (size_t)p->n_sums;
    unsigned char *scratch = tg_tape_scratch(t, per_thread * (size_t)threads);
    if (!scratch) return tg_tape_status(t);
    TG_PARALLEL_FOR_WORK(task, p->outer * blocks, work, {
        unsigned char *mine = scratch + per_thread * (size_t)tg_thread_index();
        int64_t o = task / blocks, k0 = (task % blocks) * cb;
        int64_t len = p->inner - k0 < cb ? p->inner - k0 : cb;
        double *acc = (double *)(mine + regs_bytes);
        memset(acc, 0, sizeof(double) * (size_t)cb * (size_t)p->n_sums);
        sink k = {p, .acc = acc, .acc_stride = cb};
        for (int64_t r = 0; r < p->R; r++) {
            k.column_start = (o * p->R + r) * p->inner + k0;
            compute(p, k.column_start, len, mine, &k);
        }
        for (int s = 0; s < p->n_sums; s++)
            for (int64_t i = 0; i < len; i++) put(p, sums[s], o * p->inner + k0 + i, acc[s * cb + i] * sums[s]->sum->scale);
    });
    return TG_OK;
}

/* ---- recording: a fused node per computed tensor ---- */

static const fuse_step *root_of(const output *out) { return step_of(out->y); }

typedef struct {
    int n_steps;                    /* its steps in creation order, the last one computing the output */
    const fuse_step *const *steps;
    const int (*source)[3];         /* step input j: step >= 0, or node input -1 - l */
} fused_attrs;

/* Reverse mode through the steps: each step's own backward rule, on the
 * pending values the steps stand for (recomputed by the passes that need them). */
static tg_status fused_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    const fused_attrs *fa = node->attrs;
    tg_tensor **grad = tg_tape_alloc(t, sizeof(tg_tensor *) * (size_t)fa->n_steps);
    if (!grad) return tg_tape_status(t);
    memset(grad, 0, sizeof(tg_tensor *) * (size_t)fa->n_steps);
    grad[fa->n_steps - 1] = g;
    for (int s = fa->n_steps - 1; s >= 0; s--) {
        const fuse_step *st = fa->steps[s];
        if (!grad[s] || !st->node.output->requires_grad) continue;
        tg_tensor *local[3] = {NULL, NULL, NULL};
        tg_status status = st->node.op->backward(t, &st->node, grad[s], local);
        if (status) return status;
        for (int j = 0; j < st->node.n_inputs; j++) {
            if (!local[j]) continue;
            int src = fa->source[s][j];
            tg_tensor **slot = src >= 0 ? &grad[src] : &gi[-1 - src];
            *slot = *slot ? tg_add(t, *slot, local[j]) : local[j];
            if (!*slot) return tg_tape_status(t);
        }
    }
    return tg_tape_status(t);
}

/* "sub square mean": the steps' ops, "... (n steps)" when long */
static int fused_describe(const tg_node *node, char *buf, size_t size) {
    const fused_attrs *fa = node->attrs;
    tg_text s = tg_text_on(buf, size);
    size_t room = 28, used = 0; /* the text stays under 48 characters */
    for (int k = 0; k < fa->n_steps; k++) {
        const char *name = fa->steps[k]->node.op->name;
        if (used + strlen(name) + 1 > room && k < fa->n_steps - 1) {
            tg_text_printf(&s, "... (%d steps)", fa->n_steps);
            break;
        }
        tg_text_printf(&s, "%s%s", k ? " " : "", name);
        used += strlen(name) + (k ? 1 : 0);
    }
    return tg_text_length(&s);
}

static const tg_op fused_op = {"fused", -1, fused_backward, fused_describe};

/* Marks what out's expression uses: steps, leaves, and the values other
 * outputs of the pass store (leaves for it: they are recorded first). */
static void mark(const pass *p, const int *stored, int s, bool *step_used, bool *leaf_used, bool *output_used) {
    if (step_used[s]) return;
    step_used[s] = true;
    for (int j = 0; j < p->steps[s]->node.n_inputs; j++) {
        int src = p->source[s][j];
        if (src < 0)
            leaf_used[-1 - src] = true;
        else if (stored[src] >= 0)
            output_used[stored[src]] = true;
        else
            mark(p, stored, src, step_used, leaf_used, output_used);
    }
}

/* Records out->y as one node: its own op when its expression is one step
 * over leaves, else a fused node with the steps it needs. */
static tg_status record(tg_tape *t, const pass *p, const output *out) {
    tg_tensor *y = out->y;
    const fuse_step *root = out->sum ? out->sum : p->steps[out->value];
    y->node = NULL;
    if (!root->recorded) return TG_OK;
    /* the steps whose values another (pointwise) output stores */
    int stored[MAX_STEPS];
    for (int k = 0; k < p->n_steps; k++) stored[k] = -1;
    for (int o = 0; o < p->n_outputs; o++)
        if (!p->outputs[o].sum && &p->outputs[o] != out) stored[p->outputs[o].value] = o;
    bool step_used[MAX_STEPS] = {0}, leaf_used[MAX_LEAVES] = {0}, output_used[MAX_OUTPUTS] = {0};
    if (out->sum && stored[out->value] >= 0)
        output_used[stored[out->value]] = true; /* a sum of a stored value */
    else
        mark(p, stored, out->value, step_used, leaf_used, output_used);
    int n_steps = 0, n_leaves = 0, step_new[MAX_STEPS], leaf_new[MAX_LEAVES], output_new[MAX_OUTPUTS];
    for (int k = 0; k < p->n_steps; k++) step_new[k] = step_used[k] ? n_steps++ : -1;
    for (int l = 0; l < p->n_leaves; l++) leaf_new[l] = leaf_used[l] ? n_leaves++ : -1;
    for (int o = 0; o < p->n_outputs; o++) output_new[o] = output_used[o] ? n_leaves++ : -1;
    bool was_enabled = tg_tape_set_grad_enabled(t, true), was_in_backward = tg_tape_in_backward(t);
    tg_tape_set_in_backward(t, root->node.in_backward);
    tg_tensor *recorded;
    if (n_steps == 1 && !out->sum && n_leaves == root->node.n_inputs) { /* the op alone */
        recorded = tg_tape_record(t, root->node.op, root->node.n_inputs, root->node.inputs, y, root->node.attrs,
                                  root->node.attrs_size);
    } else if (n_steps == 0) { /* the sum of a stored value: the sum alone */
        recorded = tg_tape_record(t, root->node.op, 1, root->node.inputs, y, root->node.attrs, root->node.attrs_size);
    } else {
        int total = n_steps + (out->sum ? 1 : 0);
        const fuse_step **steps = tg_tape_alloc(t, sizeof *steps * (size_t)total);
        int (*source)[3] = tg_tape_alloc(t, sizeof *source * (size_t)total);
        tg_tensor **leaves = tg_tape_alloc(t, sizeof *leaves * (size_t)(n_leaves ? n_leaves : 1));
        recorded = NULL;
        if (steps && source && leaves) {
            for (int k = 0; k < p->n_steps; k++) {
                if (step_new[k] < 0) continue;
                steps[step_new[k]] = p->steps[k];
                for (int j = 0; j < 3; j++) {
                    int src = p->source[k][j];
                    source[step_new[k]][j] = src < 0           ? -1 - leaf_new[-1 - src]
                                             : stored[src] >= 0 ? -1 - output_new[stored[src]]
                                                                : step_new[src];
                }
            }
            if (out->sum) {
                steps[n_steps] = out->sum;
                source[n_steps][0] = step_new[out->value];
                source[n_steps][1] = source[n_steps][2] = 0;
            }
            for (int l = 0; l < p->n_leaves; l++)
                if (leaf_new[l] >= 0) leaves[leaf_new[l]] = p->leaves[l];
            for (int o = 0; o < p->n_outputs; o++)
                if (output_new[o] >= 0) leaves[output_new[o]] = p->outputs[o].y;
            fused_attrs fa = {total, steps, (const int(*)[3])source};
            recorded = tg_tape_record(t, &fused_op, n_leaves, leaves, y, &fa, sizeof fa);
        }
    }
    tg_tape_set_in_backward(t, was_in_backward);
    tg_tape_set_grad_enabled(t, was_enabled);
    if (!recorded) return tg_tape_status(t);
    if (y->node) y->node->scope = root->node.scope; /* the scope of the op, not of whoever needed it */
    return TG_OK;
}

/* A sum whose data got computed meanwhile: tg_sum's own kernel. */
static tg_status plain_sum(tg_tape *t, tg_tensor *y, void *dst, bool add) {
    const fuse_step *s = step_of(y);
    tg_tensor *x = s->node.inputs[0];
    tg_tensor *into = dst && !add ? &(tg_tensor){.dtype = y->dtype, .numel = y->numel, .data = dst}
                                  : tg_tape_result(t, y->dtype, y->ndim, y->shape);
    if (!into || !tg_sum_into(t, x, s->reduced, into, s->scale)) return tg_tape_status(t);
    if (dst && add) {
        pass p = {.dtype = y->dtype};
        output out = {.dst = dst, .add = true};
        for (int64_t i = 0; i < y->numel; i++) put(&p, &out, i, tg_get(into, i));
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
    stack[depth++] = values_of(x);
    while (depth > 0) {
        const tg_tensor *v = stack[--depth];
        const fuse_step *s = step_of(v);
        bool visited = false;
        for (int k = 0; k < n_seen && !visited; k++) visited = seen[k] == s;
        if (visited || n_seen == MAX_STEPS) continue;
        seen[n_seen++] = s;
        for (int j = 0; j < s->node.n_inputs; j++) {
            tg_tensor *in = s->node.inputs[j];
            if (!tg_is_pending(in)) continue;
            if (joins_pass(in, v->ndim, v->shape)) {
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
        if (tg_is_pending(values_of(x)) && realize_inputs_of(t, x)) return tg_tape_status(t);
        if (step_of(x)->kind == STEP_SUM && !tg_is_pending(values_of(x))) {
            tg_status st = plain_sum(t, x, dsts ? dsts[i] : NULL, adds && adds[i]);
            if (st) return st;
            continue;
        }
        pass *p = tg_tape_alloc(t, sizeof *p);
        if (!p) return tg_tape_status(t);
        memset(p, 0, sizeof *p);
        bool fits = add_output(p, x, dsts ? dsts[i] : NULL, adds && adds[i]);
        TG_INVARIANT(fits); /* an expression never outgrows a pass (settle_inputs) */
        /* the others of the same space join when they fit; a later round takes the rest */
        for (int j = i + 1; j < n; j++)
            if (tg_is_pending(xs[j]) && !(done && done[j]) && add_output(p, xs[j], dsts ? dsts[j] : NULL, adds && adds[j]) && done)
                done[j] = true;
        if (!dsts) {
            add_sibling_sums(t, p);
            add_shared_values(p);
        }
        tg_status st = prepare(t, p);
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
        if (!st) st = evaluate(t, p);
        for (int k = 0; k < p->n_steps; k++) p->steps[k]->evaluated = true;
        for (int o = 0; !st && !dsts && o < p->n_outputs; o++) p->outputs[o].y->data = p->outputs[o].dst;
        /* recorded in creation order: a stored value before the outputs that read it */
        int order[MAX_OUTPUTS];
        for (int o = 0; o < p->n_outputs; o++) {
            int k = o;
            for (; k > 0 && root_of(&p->outputs[order[k - 1]])->serial > root_of(&p->outputs[o])->serial; k--)
                order[k] = order[k - 1];
            order[k] = o;
        }
        for (int o = 0; !st && !dsts && o < p->n_outputs; o++) st = record(t, p, &p->outputs[order[o]]);
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
    fuse_step *s = step_of(x);
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
