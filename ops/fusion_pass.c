/* A pass of fusion (see ops/fusion.c): the pending tensors it computes, the
 * steps and leaves they need, and the chunk-by-chunk run over the iteration
 * space that computes them, sums with tg_sum's partition. */
#include "ops/fusion_private.h"

#include "ops/reduce_pass.h"

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
    if (!tg_joins_pass(x, p->ndim, p->shape)) return false;
    fuse_step *s = tg_step_of(x);
    if (step_index(p, s) >= 0) return true;
    if (p->n_steps == MAX_STEPS) return false;
    p->steps[p->n_steps++] = s;
    for (int j = 0; j < s->node.n_inputs; j++)
        if (!collect(p, s->node.inputs[j])) return false;
    return true;
}

/* Adds pending x to the pass if it fits (same dtype and iteration space, the
 * same reduction as the pass's other sums, room left); false otherwise, with
 * the pass unchanged. */
bool tg_pass_add_output(pass *p, tg_tensor *x, void *dst, bool add) {
    if (p->n_outputs == MAX_OUTPUTS || leaf_index(p, x) >= 0) return false;
    for (int o = 0; o < p->n_outputs; o++)
        if (p->outputs[o].y == x) return false;
    const fuse_step *s = tg_step_of(x);
    const tg_tensor *v = tg_values_of(x);
    if (p->n_outputs == 0) {
        p->dtype = x->dtype;
        p->es = tg_dtype_size(x->dtype);
        p->ndim = v->ndim;
        memcpy(p->shape, v->shape, sizeof(int64_t) * (size_t)v->ndim);
        p->numel = v->numel;
    } else if (x->dtype != p->dtype || !tg_same_dims(v, p->ndim, p->shape)) {
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
void tg_pass_add_sibling_sums(tg_tape *t, pass *p) {
    fusion_state *state = tg_tape_fusion_state(t);
    for (int i = 0; state && i < MAX_PENDING_SUMS; i++) {
        tg_tensor *x = state->sums[i];
        if (x && tg_is_pending(x) && tg_is_pending(tg_values_of(x))) tg_pass_add_output(p, x, NULL, false);
    }
}

/* A value that needs a gradient and is read by steps outside this pass too,
 * or by the expressions of two of its outputs (each recorded as its own
 * node), is stored by it and recorded as its own node: its gradient is then
 * summed over its readers before going further back, as without fusion, which keeps
 * gradients bit for bit those of the ops one by one (batchnorm's x - mean
 * feeds the variance's pass and the output's). Readers that come after its
 * first pass (a backward rule reading a forward value) recompute it. */
/* Marks the steps of the pass that s's expression reaches (s included). */
static void reach(const pass *p, const fuse_step *s, bool *seen) {
    int k = step_index(p, s);
    if (k < 0 || seen[k]) return;
    seen[k] = true;
    for (int j = 0; j < s->node.n_inputs; j++)
        if (tg_is_pending(s->node.inputs[j])) reach(p, tg_step_of(s->node.inputs[j]), seen);
}

void tg_pass_add_shared_values(pass *p) {
    int readers[MAX_STEPS] = {0};
    /* outputs whose expressions reach each step: each output is recorded as
     * its own node, so a value inside two of them would send its gradient
     * back twice, in two shares, instead of once summed */
    int outputs_reaching[MAX_STEPS] = {0};
    for (int o = 0; o < p->n_outputs; o++) {
        bool seen[MAX_STEPS] = {false};
        reach(p, tg_step_of(tg_values_of(p->outputs[o].y)), seen);
        for (int k = 0; k < p->n_steps; k++) outputs_reaching[k] += seen[k];
    }
    for (int k = 0; k < p->n_steps; k++)
        for (int j = 0; j < p->steps[k]->node.n_inputs; j++) {
            tg_tensor *x = p->steps[k]->node.inputs[j];
            int i = tg_is_pending(x) ? step_index(p, tg_step_of(x)) : -1;
            if (i >= 0) readers[i]++;
        }
    for (int o = 0; o < p->n_outputs; o++)
        if (p->outputs[o].sum) readers[step_index(p, tg_step_of(tg_values_of(p->outputs[o].y)))]++;
    for (int k = 0; k < p->n_steps; k++) {
        const fuse_step *s = p->steps[k];
        /* (once a pass has computed it, it is inside that pass's node: recomputing is all that is left) */
        if (s->recorded && !s->evaluated && s->node.output->requires_grad &&
            (s->consumers > readers[k] || outputs_reaching[k] > 1))
            tg_pass_add_output(p, s->node.output, NULL, false);
    }
}

/* The steps that compute (a copy of a leaf is read as the leaf), with their
 * inputs resolved once for the whole pass instead of once per chunk. */
static void plan_runs(pass *p) {
    p->n_runs = 0;
    for (int s = 0; s < p->n_steps; s++) {
        if (p->alias[s] >= 0) continue;
        const fuse_step *st = p->steps[s];
        pass_run *r = &p->runs[p->n_runs++];
        r->row = st->row[p->dtype == TG_F64];
        r->attrs = st->node.attrs;
        r->value = s;
        r->n_inputs = st->node.n_inputs;
        for (int j = 0; j < 3; j++) {
            r->reg[j] = r->leaf[j] = -1;
            r->stride[j] = 0;
        }
        for (int j = 0; j < r->n_inputs; j++) {
            int src = p->source[s][j];
            if (src >= 0 && p->alias[src] >= 0) src = -1 - p->alias[src];
            if (src >= 0) {
                r->reg[j] = src;
                r->stride[j] = 1;
            } else {
                r->leaf[j] = -1 - src;
                r->stride[j] = p->lstride[-1 - src][p->lnd - 1];
            }
        }
    }
}

static void plan_chunk_rows(pass *p) {
    p->chunk_rows = 1;
    p->period = p->lshape[p->lnd - 1];
    if (p->lnd != 2 || 2 * p->period > CHUNK) return;
    for (int l = 0; l < p->n_leaves; l++) {
        bool row_after_row = p->lstride[l][1] == 1 && p->lstride[l][0] == p->period;
        bool every_row = p->lstride[l][0] == 0;
        if (!row_after_row && !every_row) return;
        p->repeated[l] = every_row && p->lstride[l][1] != 0;
    }
    p->chunk_rows = CHUNK / p->period;
}

/* Steps in creation order (a topological order), their sources, the check
 * that no leaf changed in place since a step read it, the layout, and the
 * steps that compute with their inputs resolved. */
tg_status tg_pass_prepare(tg_tape *t, pass *p) {
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
                p->source[k][j] = step_index(p, tg_step_of(x));
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
    for (int o = 0; o < p->n_outputs; o++) p->outputs[o].value = step_index(p, tg_step_of(tg_values_of(p->outputs[o].y)));
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
    plan_runs(p);
    plan_chunk_rows(p);
    return TG_OK;
}

/* What a computed chunk feeds: outputs are written, sums accumulated. */
typedef struct {
    const pass *p;
    const unsigned char *const *repeat;    /* the repeated copies of leaves (pass.repeated) */
    tg_row_sum_state *segment;             /* sums of contiguous segments: each sum's row sum */
    int64_t column_start;                  /* sums down columns: */
    double *acc;                           /*   each sum's running totals, */
    int64_t acc_stride;                    /*   acc_stride apart, */
    bool whole_rows;                       /*   fed whole rows of p->inner from column_start on */
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
            } else { /* n values of one row from column_start on, or whole rows: each column adds its rows in order */
                double *acc = k->acc + sum * k->acc_stride + (k->whole_rows ? 0 : pos - k->column_start);
                int64_t width = k->whole_rows ? p->inner : n;
                int64_t r = 0;
                /* two rows per pass over the totals: each column still adds its rows in order */
                for (; r + 2 * width <= n; r += 2 * width) {
                    if (p->dtype == TG_F32) {
                        const float *a = (const float *)v + r, *b = a + width;
                        for (int64_t i = 0; i < width; i++) acc[i] = (acc[i] + (double)a[i]) + (double)b[i];
                    } else {
                        const double *a = (const double *)v + r, *b = a + width;
                        for (int64_t i = 0; i < width; i++) acc[i] = (acc[i] + a[i]) + b[i];
                    }
                }
                for (; r < n; r += width) {
                    if (p->dtype == TG_F32)
                        for (int64_t i = 0; i < width; i++) acc[i] += (double)((const float *)v)[r + i];
                    else
                        for (int64_t i = 0; i < width; i++) acc[i] += ((const double *)v)[r + i];
                }
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

/* Every step over the chunk [pos, pos + len), leaf l read from leaf[l] on,
 * then fed to k (chunks of several rows; compute's loop within one row is
 * the same written out: routed through here it measured 2-4% slower). */
static void run_chunk(const pass *p, int64_t pos, int64_t len, const unsigned char *const *leaf,
                      unsigned char **reg, sink *k) {
    for (int s = 0; s < p->n_steps; s++)
        if (p->in_place[s]) reg[s] = p->in_place[s] + (size_t)pos * p->es;
    for (int i = 0; i < p->n_runs; i++) {
        const pass_run *r = &p->runs[i];
        const void *in[3] = {NULL, NULL, NULL};
        for (int j = 0; j < r->n_inputs; j++) in[j] = r->reg[j] >= 0 ? (const void *)reg[r->reg[j]] : leaf[r->leaf[j]];
        r->row(len, reg[r->value], in, r->stride, r->attrs);
    }
    feed(k, pos, len, reg);
}

/* Computes every step over the flat range [start, start + n) of the
 * iteration space, a chunk at a time, and feeds each chunk to k. A step whose
 * values are an output (written, not added) writes them in place. */
static void compute(const pass *p, int64_t start, int64_t n, unsigned char *regs, sink *k) {
    size_t es = p->es;
    int nd = p->lnd;
    int64_t inner = p->lshape[nd - 1];
    unsigned char *reg[MAX_STEPS];
    for (int s = 0; s < p->n_steps; s++) reg[s] = regs + (size_t)s * CHUNK * es;
    if (p->chunk_rows > 1 && start % p->period == 0) { /* chunks of chunk_rows rows */
        for (int64_t pos = start, end = start + n, len; pos < end; pos += len) {
            len = end - pos < p->chunk_rows * p->period ? end - pos : p->chunk_rows * p->period;
            const unsigned char *leaf[MAX_LEAVES];
            for (int l = 0; l < p->n_leaves; l++)
                leaf[l] = p->repeated[l]          ? k->repeat[l]
                          : p->lstride[l][0] == 0 ? (const unsigned char *)p->leaves[l]->data
                                                  : (const unsigned char *)p->leaves[l]->data + (size_t)pos * es;
            run_chunk(p, pos, len, leaf, reg, k);
        }
        return;
    }
    for (int64_t pos = start, end = start + n; pos < end;) {
        /* a run inside one row of the merged layout: leaves advance by their inner stride */
        int64_t row = nd > 1 ? pos / inner : 0, column = pos - row * inner;
        int64_t run = inner - column < end - pos ? inner - column : end - pos;
        const unsigned char *leaf[MAX_LEAVES];
        if (nd <= 2) { /* one row or [rows, inner], most passes: no index array (built element by element and
                        * read back as a vector, it stalled every call of a pass down columns, one per row) */
            for (int l = 0; l < p->n_leaves; l++) {
                int64_t offset = column * p->lstride[l][nd - 1] + (nd == 2 ? row * p->lstride[l][0] : 0);
                leaf[l] = (const unsigned char *)p->leaves[l]->data + (size_t)offset * es;
            }
        } else {
            int64_t index[TG_MAX_DIMS];
            for (int d = nd - 2; d >= 0; d--) {
                index[d] = d > 0 ? row % p->lshape[d] : row;
                if (d > 0) row /= p->lshape[d];
            }
            for (int l = 0; l < p->n_leaves; l++) {
                int64_t offset = column * p->lstride[l][nd - 1];
                for (int d = 0; d < nd - 1; d++) offset += index[d] * p->lstride[l][d];
                leaf[l] = (const unsigned char *)p->leaves[l]->data + (size_t)offset * es;
            }
        }
        for (int64_t c = 0; c < run; c += CHUNK) {
            int64_t len = run - c < CHUNK ? run - c : CHUNK;
            for (int s = 0; s < p->n_steps; s++)
                if (p->in_place[s]) reg[s] = p->in_place[s] + (size_t)(pos + c) * es;
            for (int i = 0; i < p->n_runs; i++) {
                const pass_run *r = &p->runs[i];
                const void *in[3] = {NULL, NULL, NULL};
                for (int j = 0; j < r->n_inputs; j++)
                    in[j] = r->reg[j] >= 0 ? (const void *)reg[r->reg[j]]
                                           : leaf[r->leaf[j]] + (size_t)(c * r->stride[j]) * es;
                r->row(len, reg[r->value], in, r->stride, r->attrs);
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
tg_status tg_pass_evaluate(tg_tape *t, pass *p) {
    size_t regs_bytes = (size_t)MAX_STEPS * CHUNK * sizeof(double);
    /* A pass is worth threads by its elements (p->numel), not elements times
     * steps: the steps run in registers, and what threads cost (a region, the
     * lines the other core wrote) grows with the data the pass reads and
     * writes. */
    int threads = tg_get_num_threads();
    const unsigned char *repeat[MAX_LEAVES] = {NULL};
    for (int l = 0; l < p->n_leaves && p->chunk_rows > 1; l++) {
        if (!p->repeated[l]) continue;
        size_t row = (size_t)p->period * p->es;
        unsigned char *copy = tg_tape_alloc(t, row * (size_t)p->chunk_rows);
        if (!copy) return tg_tape_status(t);
        for (int64_t r = 0; r < p->chunk_rows; r++) memcpy(copy + (size_t)r * row, p->leaves[l]->data, row);
        repeat[l] = copy;
    }
    /* tasks of TASK elements, or the blocks of a sum, cut in one part per
     * thread at the halves (thirds...) of the elements, as the optimizer
     * cuts a parameter (core/parallel.h): the pass that writes a weight's
     * gradient, or sums its squares for an L2 penalty, keeps to the rows
     * each thread updates (the MLP step with two threads 2% faster in the
     * VM's slow phase). Which thread computes a block changes no bits. */
    int64_t parts = tg_threads_for(p->numel);
    if (p->n_sums == 0) {
        int64_t tasks = (p->numel + TASK - 1) / TASK;
        unsigned char *scratch = tg_tape_scratch(t, regs_bytes * (size_t)threads);
        if (!scratch) return tg_tape_status(t);
        TG_PARALLEL_FOR_WORK(part, parts, p->numel, {
            int64_t first, end;
            tg_blocks_of_part(p->numel, TASK, tasks, part, parts, &first, &end);
            for (int64_t task = first; task < end; task++) {
                sink k = {p, .repeat = repeat};
                int64_t start = task * TASK, n = p->numel - start < TASK ? p->numel - start : TASK;
                compute(p, start, n, scratch + regs_bytes * (size_t)tg_thread_index(), &k);
            }
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
        TG_PARALLEL_FOR_WORK(part, parts, p->numel, {
            int64_t first, end;
            tg_blocks_of_part(p->outer * p->R, length, segments, part, parts, &first, &end);
            for (int64_t task = first; task < end; task++) {
                int64_t start = task * length, n = p->outer * p->R - start < length ? p->outer * p->R - start : length;
                tg_row_sum_state row[MAX_OUTPUTS];
                for (int s = 0; s < p->n_sums; s++) tg_row_sum_start(&row[s]);
                sink k = {p, .repeat = repeat, .segment = row};
                compute(p, start, n, scratch + regs_bytes * (size_t)tg_thread_index(), &k);
                for (int s = 0; s < p->n_sums; s++) {
                    double v = tg_row_sum_finish(&row[s]);
                    if (p->outer == 1)
                        partial[s * segments + task] = v;
                    else
                        put(p, sums[s], task, v * sums[s]->sum->scale);
                }
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
     * wide as a chunk (fewer, longer rows per call) while every thread the
     * pass runs on still gets some (a pass on one thread, small or in a
     * step alone: whole rows, several a chunk) */
    int64_t cb = tg_reduce_column_block(p->outer, p->inner, tg_threads_for(p->numel), CHUNK);
    int64_t blocks = (p->inner + cb - 1) / cb;
    size_t per_thread = regs_bytes + sizeof(double) * (size_t)cb * (size_t)p->n_sums;
    unsigned char *scratch = tg_tape_scratch(t, per_thread * (size_t)threads);
    if (!scratch) return tg_tape_status(t);
    TG_PARALLEL_FOR_WORK(task, p->outer * blocks, p->numel, {
        unsigned char *mine = scratch + per_thread * (size_t)tg_thread_index();
        int64_t o = task / blocks, k0 = (task % blocks) * cb;
        int64_t len = p->inner - k0 < cb ? p->inner - k0 : cb;
        double *acc = (double *)(mine + regs_bytes);
        memset(acc, 0, sizeof(double) * (size_t)cb * (size_t)p->n_sums);
        sink k = {p, .repeat = repeat, .acc = acc, .acc_stride = cb};
        if (len == p->inner && p->chunk_rows > 1 && p->period == p->inner) { /* whole rows, several a chunk */
            k.column_start = o * p->R * p->inner;
            k.whole_rows = true;
            compute(p, k.column_start, p->R * p->inner, mine, &k);
        } else {
            for (int64_t r = 0; r < p->R; r++) {
                k.column_start = (o * p->R + r) * p->inner + k0;
                compute(p, k.column_start, len, mine, &k);
            }
        }
        for (int s = 0; s < p->n_sums; s++)
            for (int64_t i = 0; i < len; i++) put(p, sums[s], o * p->inner + k0 + i, acc[s * cb + i] * sums[s]->sum->scale);
    });
    return TG_OK;
}

