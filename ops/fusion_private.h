/* Fusion's pieces (private to ops/fusion*.c; see ops/fusion.h and docs/fusion.md):
 * steps and pending tensors (ops/fusion.c), passes that compute them
 * (ops/fusion_pass.c), and the nodes that record them (ops/fusion_record.c). */
#ifndef TG_OPS_FUSION_PRIVATE_H
#define TG_OPS_FUSION_PRIVATE_H

#include <string.h>

#include "ops/fusion.h"
#include "ops/kernel.h"

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

typedef struct {
    tg_tensor *y;        /* the tensor computed */
    const fuse_step *sum; /* its sum step, or NULL: y is the values of step `value` */
    int value;           /* the step whose values y takes or sums */
    char *dst;           /* where they go */
    bool add;            /* dst += values (the engine accumulating a gradient) */
} output;

/* A step that computes, with its inputs resolved once for every chunk: each
 * the register of a step or a leaf read with a stride. */
typedef struct {
    tg_row_fn row;
    const void *attrs;
    int value;         /* the step: its register */
    int n_inputs;
    int reg[3];        /* input j: step reg[j]'s register, or (-1) */
    int leaf[3];       /*   leaf leaf[j], */
    int64_t stride[3]; /*   stride[j] apart (1 in registers) */
} pass_run;

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
    /* what each chunk runs (tg_pass_prepare) */
    int n_runs;
    pass_run runs[MAX_STEPS];
    /* Rows of `period` elements that one chunk covers: more than 1 when the
     * space is [rows, period], period <= CHUNK / 2, and every leaf is either
     * laid out row after row or the same in every row (a [period] vector,
     * read from a copy repeated chunk_rows times, or a scalar): batchnorm's
     * [N, C] passes then call each row function once per CHUNK elements
     * instead of once per row. */
    int64_t chunk_rows, period;
    bool repeated[MAX_LEAVES];
} pass;


static inline fuse_step *tg_step_of(const tg_tensor *x) { return (fuse_step *)x->node; }

static inline bool tg_same_dims(const tg_tensor *x, int ndim, const int64_t *shape) {
    if (x->ndim != ndim) return false;
    for (int i = 0; i < ndim; i++)
        if (x->shape[i] != shape[i]) return false;
    return true;
}

/* The values x takes or sums: x itself for a pointwise step, what it sums for a sum. */
static inline tg_tensor *tg_values_of(const tg_tensor *x) {
    fuse_step *s = tg_step_of(x);
    return s->kind == STEP_SUM ? s->node.inputs[0] : (tg_tensor *)x;
}

/* Whether x's steps run in the pass of a pointwise step of `shape` that reads
 * it (see ops/fusion.c). */
bool tg_joins_pass(const tg_tensor *x, int ndim, const int64_t *shape);

/* ---- a pass (ops/fusion_pass.c) ---- */
/* Adds pending x to the pass if it fits (same dtype and iteration space, the
 * same reduction as the pass's other sums, room left), computed into dst (or
 * new memory when NULL), added to it when add; false with the pass unchanged
 * otherwise. */
bool tg_pass_add_output(pass *p, tg_tensor *x, void *dst, bool add);
/* Recent pending sums over the same space join (one read gives them all). */
void tg_pass_add_sibling_sums(tg_tape *t, pass *p);
/* Values that need a gradient and are read outside the pass are stored. */
void tg_pass_add_shared_values(pass *p);
/* Orders the steps, checks versions, lays the leaves out, resolves the
 * inputs of the steps that compute. */
tg_status tg_pass_prepare(tg_tape *t, pass *p);
/* Runs the pass into its outputs' memory. */
tg_status tg_pass_evaluate(tg_tape *t, pass *p);

/* ---- recording (ops/fusion_record.c) ---- */
/* Records out->y, computed by p, as one node (its op alone, or "fused"). */
tg_status tg_pass_record(tg_tape *t, const pass *p, const output *out);
/* The step that made the output: the order outputs are recorded in. */
static inline const fuse_step *tg_root_of(const output *out) { return tg_step_of(out->y); }

#endif
