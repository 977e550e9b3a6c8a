/* Reverse-mode backward over the tape.
 *
 * Nodes are stored in the order they ran, which is a topological order, so a
 * single walk from the root's node down to node 0 visits every consumer of a
 * tensor before the tensor's producer: when a node is reached, the gradient
 * gathered on its output (pending_grad) is complete. */
#include "graph/backward.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "core/parallel.h"
#include "ops/elementwise.h"
#include "graph/release.h"
#include "ops/fusion.h"

static _Atomic uint64_t pass_counter;

typedef struct {
    tg_tensor *grad;
    const tg_tensor *g;
    bool add;
} flush;

/* A leaf whose gradient is complete, waiting for the end of the pass:
 * x->grad = grad (a first gradient, already written), or x->grad += g. */
typedef struct {
    tg_tensor *x;
    flush f;
} landing;

typedef struct {
    tg_tape *t;
    const char *who;
    uint64_t pass;
    bool anomaly;         /* tg_tape_detect_anomaly: check every gradient */
    tg_release *release;  /* what the pass gives back as it goes, or NULL */
    landing *landings;    /* leaves flushed so far, applied by land() */
    int n_landings, cap_landings;
} walk;

/* pending(x) += g */
static tg_status gather(walk *w, tg_tensor *x, tg_tensor *g) {
    bool first = x->pending_pass != w->pass;
    if (first) {
        x->pending_pass = w->pass;
        x->pending_grad = g;
    } else {
        x->pending_grad = tg_add(w->t, x->pending_grad, g);
        if (!x->pending_grad) return tg_tape_status(w->t);
    }
    tg_release_gathered(w->release, x, g, first);
    return TG_OK;
}

/* Leaf gradients: x->grad += g, or x->grad = g for the first gradient x gets
 * (no zeros to add to). Values only: ->grad is not part of any graph. */
static void flush_piece(void *context, int segment, int64_t begin, int64_t end) {
    const flush *f = (const flush *)context + segment;
    if (!f->g) return;
    if (!f->add) {
        size_t es = tg_dtype_size(f->g->dtype);
        memmove((char *)f->grad->data + (size_t)begin * es, (const char *)f->g->data + (size_t)begin * es,
                (size_t)(end - begin) * es);
    } else if (f->g->dtype == TG_F32) {
        float *restrict a = f->grad->data;
        const float *restrict b = f->g->data;
        for (int64_t i = begin; i < end; i++) a[i] += b[i];
    } else {
        double *restrict a = f->grad->data;
        const double *restrict b = f->g->data;
        for (int64_t i = begin; i < end; i++) a[i] += b[i];
    }
}

/* Prepares x->grad to receive g: the existing gradient (added to), or the
 * parameter's kept storage after tg_set_grad_to_none, or a new tensor on the
 * tape (written). A new ->grad is
 * attached by the caller. */
static tg_status flush_of(walk *w, tg_tensor *x, const tg_tensor *g, flush *f) {
    /* step() and check_output() already refused gradients of another dtype or shape */
    TG_INVARIANT(x->dtype == g->dtype && x->numel == g->numel);
    f->add = x->grad != NULL;
    f->grad = x->grad ? x->grad
              : x->grad_storage ? x->grad_storage
                                : tg_tensor_empty(w->t, x->dtype, x->ndim, x->shape);
    f->g = g;
    return f->grad ? TG_OK : tg_tape_status(w->t);
}

/* Pending gradients (a fused expression not computed yet) are computed
 * straight into their destination, written or added, when the pass records
 * nothing; recording (create_graph) computes them as tape values first. The
 * others are copied or added in one parallel region. */
static tg_status flush_all(walk *w, int count, flush *flushes, int64_t *sizes) {
    bool recording = tg_tape_grad_enabled(w->t);
    tg_tensor **pending = tg_tape_alloc(w->t, sizeof(tg_tensor *) * (size_t)(count ? count : 1));
    void **dsts = tg_tape_alloc(w->t, sizeof(void *) * (size_t)(count ? count : 1));
    bool *adds = tg_tape_alloc(w->t, sizeof(bool) * (size_t)(count ? count : 1));
    if (!pending || !dsts || !adds) return tg_tape_status(w->t);
    int n = 0;
    for (int i = 0; i < count; i++) {
        if (!tg_is_pending(flushes[i].g)) continue;
        pending[n] = (tg_tensor *)flushes[i].g;
        dsts[n] = flushes[i].grad->data;
        adds[n++] = flushes[i].add;
        if (!recording) flushes[i].g = NULL; /* done by the pass */
    }
    tg_status st = recording ? tg_fuse_realize(w->t, n, pending) : tg_fuse_realize_into(w->t, n, pending, dsts, adds);
    if (st) return st;
    for (int i = 0; i < count; i++) sizes[i] = flushes[i].g ? flushes[i].g->numel : 0;
    tg_parallel_segments(count, sizes, flush_piece, flushes);
    return TG_OK;
}

/* x->grad (+)= g for one tensor at once (intermediates marked with
 * tg_requires_grad) */
static tg_status accumulate(walk *w, tg_tensor *x, const tg_tensor *g) {
    flush f;
    int64_t size;
    tg_status st = flush_of(w, x, g, &f);
    if (!st) st = flush_all(w, 1, &f, &size);
    if (!st) x->grad = f.grad;
    return st;
}

/* A leaf's gradient is complete once the walk has passed the first node that
 * uses it: no node below can add to it. The tape lists each leaf's first use
 * as ops record (tg_tape_leaf_uses, in node order): the walk takes them from
 * the end. There a first gradient is written into the memory ->grad will be
 * (kept storage, or a new tensor), and the gradient's own memory can go
 * before the pass ends. A gradient added to an existing ->grad is kept (as a
 * computed tape value) until the pass is through. Only then do the leaves
 * see anything (land()): a pass that fails, say out of memory, leaves every
 * ->grad as it was. */
static tg_status add_landing(walk *w, tg_tensor *x, const flush *f) {
    if (w->n_landings == w->cap_landings) {
        int cap = w->cap_landings ? 2 * w->cap_landings : 32;
        landing *grown = tg_tape_alloc(w->t, sizeof *grown * (size_t)cap);
        if (!grown) return tg_tape_status(w->t);
        if (w->n_landings) memcpy(grown, w->landings, sizeof *grown * (size_t)w->n_landings);
        w->landings = grown;
        w->cap_landings = cap;
    }
    w->landings[w->n_landings++] = (landing){x, *f};
    return TG_OK;
}

/* Flushes leaves[0..n) (each with a complete gradient): first gradients
 * written in one parallel region, the others computed and held. */
static tg_status flush_leaves(walk *w, int n, tg_tensor *const *leaves) {
    if (n == 0) return TG_OK;
    flush *firsts = tg_tape_alloc(w->t, sizeof *firsts * (size_t)n);
    int64_t *sizes = tg_tape_alloc(w->t, sizeof *sizes * (size_t)n);
    tg_tensor **added = tg_tape_alloc(w->t, sizeof *added * (size_t)n);
    if (!firsts || !sizes || !added) return tg_tape_status(w->t);
    int n_firsts = 0, n_added = 0;
    for (int k = 0; k < n; k++) {
        tg_tensor *x = leaves[k];
        flush f;
        tg_status st = flush_of(w, x, x->pending_grad, &f);
        if (!st) st = add_landing(w, x, &f);
        if (st) return st;
        if (f.add) added[n_added++] = x->pending_grad;
        else firsts[n_firsts++] = f;
    }
    tg_status st = flush_all(w, n_firsts, firsts, sizes);
    if (!st) st = tg_fuse_realize(w->t, n_added, added);
    for (int k = 0; k < n_added && !st; k++) tg_release_hold(w->release, added[k]);
    return st;
}

static void land_piece(void *context, int segment, int64_t begin, int64_t end) {
    flush_piece(&((landing *)context)[segment].f, 0, begin, end);
}

/* The pass went through: the held gradients are added (one parallel
 * region), the first ones attached. */
static tg_status land(walk *w) {
    int64_t *sizes = tg_tape_alloc(w->t, sizeof *sizes * (size_t)(w->n_landings ? w->n_landings : 1));
    if (!sizes) return tg_tape_status(w->t);
    for (int k = 0; k < w->n_landings; k++) sizes[k] = w->landings[k].f.add ? w->landings[k].f.g->numel : 0;
    tg_parallel_segments(w->n_landings, sizes, land_piece, w->landings);
    for (int k = 0; k < w->n_landings; k++) w->landings[k].x->grad = w->landings[k].f.grad;
    return TG_OK;
}

/* Flushes the leaves whose first use is node `index` (the tail of the first
 * *left uses). */
static tg_status flush_at(walk *w, int64_t index, const tg_leaf_use *plan, int64_t *left) {
    int n = 0;
    while (*left - n > 0 && plan[*left - n - 1].index == index) n++;
    if (n == 0) return TG_OK;
    tg_tensor **leaves = tg_tape_alloc(w->t, sizeof *leaves * (size_t)n);
    if (!leaves) return tg_tape_status(w->t);
    int count = 0;
    for (int64_t k = *left - n; k < *left; k++) {
        tg_tensor *x = plan[k].leaf;
        if (!x->keeps_grad || x->pending_pass != w->pass) continue; /* no gradient kept or reached */
        x->pending_pass = 0;
        leaves[count++] = x;
    }
    *left -= n;
    return flush_leaves(w, count, leaves);
}

/* The roots that are leaves themselves (every other leaf is an input of a
 * node, flushed after its first use). */
static tg_status flush_roots(walk *w, int n_outputs, tg_tensor *const *outputs) {
    tg_tensor **leaves = tg_tape_alloc(w->t, sizeof *leaves * (size_t)n_outputs);
    if (!leaves) return tg_tape_status(w->t);
    int count = 0;
    for (int k = 0; k < n_outputs; k++) {
        tg_tensor *x = outputs[k];
        if (x->node || !x->keeps_grad || x->pending_pass != w->pass) continue;
        x->pending_pass = 0;
        leaves[count++] = x;
    }
    return flush_leaves(w, count, leaves);
}

static const char *label(const tg_tensor *x, char *buf, size_t size) {
    if (x->name) {
        snprintf(buf, size, "%s '%s'", x->kind == TG_KIND_PARAM ? "parameter" : "tensor", x->name);
    } else {
        char desc[96];
        snprintf(buf, size, "%s %s", x->kind == TG_KIND_PARAM ? "parameter" : "tensor",
                 tg_tensor_desc(x, desc, sizeof desc));
    }
    return buf;
}

static tg_status check_versions(walk *w, const tg_node *node) {
    char buf[200];
    for (int j = 0; j < node->n_inputs; j++) {
        const tg_tensor *x = node->inputs[j];
        if (x->version != node->input_versions[j])
            return tg_tape_fail(w->t, TG_ERR_STATE,
                                "%s: %s was modified in place after the forward pass used it in op '%s' "
                                "(version %llu, saved %llu); run the forward pass again",
                                w->who, label(x, buf, sizeof buf), node->op->name, (unsigned long long)x->version,
                                (unsigned long long)node->input_versions[j]);
    }
    if (node->output->version != node->output_version) /* rules such as exp's read the output */
        return tg_tape_fail(w->t, TG_ERR_STATE,
                            "%s: the output %s of op '%s' was modified in place after it was computed "
                            "(version %llu, saved %llu); run the forward pass again",
                            w->who, label(node->output, buf, sizeof buf), node->op->name,
                            (unsigned long long)node->output->version, (unsigned long long)node->output_version);
    return TG_OK;
}

/* Anomaly mode: the first NaN or infinity in the gradients node's rule gave. */
static tg_status check_gradients(walk *w, const tg_node *node, tg_tensor *const *gi) {
    for (int j = 0; j < node->n_inputs; j++) {
        int64_t bad = gi[j] ? tg_tensor_first_nonfinite(gi[j]) : -1;
        if (bad < 0) continue;
        double v = tg_get(gi[j], bad);
        char name[800], input[200], ins[400];
        return tg_tape_fail(w->t, TG_ERR_CHECK,
                            "%s: anomaly in the backward pass: the gradient that %s gave its input %d (%s) has %s at "
                            "element %lld; the op's inputs: %s",
                            w->who, tg_node_desc(node, name, sizeof name), j,
                            tg_tensor_desc(node->inputs[j], input, sizeof input),
                            isnan(v) ? "NaN" : v > 0 ? "inf" : "-inf", (long long)bad,
                            tg_inputs_desc(node->n_inputs, node->inputs, ins, sizeof ins));
    }
    return TG_OK;
}

/* A rule that gives one input a pending gradient g and another its sum
 * (y = x @ W + b: x gets g, b the sum of g over the batch) has them computed
 * in one pass now: apart, the sum's pass computes g's whole expression and
 * g's own pass computes it again. */
static tg_status realize_sums_with_values(walk *w, int n, tg_tensor *const *gi) {
    tg_tensor *together[16];
    int count = 0;
    for (int j = 0; j < n; j++)
        for (int k = 0; k < n && count + 2 <= 16; k++)
            if (k != j && gi[j] && gi[k] && tg_fuse_sums(gi[j], gi[k])) {
                together[count++] = gi[k];
                together[count++] = gi[j];
                break;
            }
    return count ? tg_fuse_realize(w->t, count, together) : TG_OK;
}

/* Runs one node's backward rule and gathers its input gradients. */
static tg_status step(walk *w, const tg_node *node) {
    tg_tensor *local[8] = {0};
    tg_tensor **gi = node->n_inputs <= 8 ? local : tg_tape_alloc(w->t, sizeof(tg_tensor *) * (size_t)node->n_inputs);
    if (!gi) return tg_tape_status(w->t);
    if (gi != local) memset(gi, 0, sizeof(tg_tensor *) * (size_t)node->n_inputs);
    if (w->anomaly) tg_tape_set_backward_node(w->t, node);
    tg_status st = node->op->backward(w->t, node, node->output->pending_grad, gi);
    if (w->anomaly) {
        tg_tape_set_backward_node(w->t, NULL);
        if (!st) st = tg_fuse_realize(w->t, node->n_inputs, gi); /* fused gradients, computed to be read */
        if (!st) st = check_gradients(w, node, gi);
    }
    if (st) return st;
    if ((st = realize_sums_with_values(w, node->n_inputs, gi))) return st;
    for (int j = 0; j < node->n_inputs; j++) {
        tg_tensor *x = node->inputs[j];
        if (!gi[j] || !x->requires_grad) continue;
        if (!tg_same_shape(gi[j], x) || gi[j]->dtype != x->dtype) {
            char a[96], b[96];
            return tg_tape_fail(w->t, TG_ERR_STATE,
                                "%s: the backward rule of op '%s' gave input %d a gradient %s, the input is %s",
                                w->who, node->op->name, j, tg_tensor_desc(gi[j], a, sizeof a),
                                tg_tensor_desc(x, b, sizeof b));
        }
        if ((st = gather(w, x, gi[j]))) return st;
    }
    return TG_OK;
}

static tg_status check_output(tg_tape *t, const char *who, tg_tensor *root, tg_tensor *grad_output) {
    char a[96], b[96];
    if (!root) return tg_tape_fail(t, TG_ERR_ARG, "%s: root is NULL (an earlier op failed: check tg_tape_error)", who);
    const char *why = tg_tape_check_tensor(t, root);
    if (why) return tg_tape_fail(t, tg_tape_is_stale(t, root) ? TG_ERR_STATE : TG_ERR_ARG, "%s: root %s", who, why);
    why = grad_output ? tg_tape_check_tensor(t, grad_output) : NULL;
    if (why)
        return tg_tape_fail(t, tg_tape_is_stale(t, grad_output) ? TG_ERR_STATE : TG_ERR_ARG, "%s: grad_output %s",
                            who, why);
    if (!root->requires_grad)
        return tg_tape_fail(t, TG_ERR_STATE,
                            "%s: root %s does not require a gradient: nothing it was computed from requires one "
                            "(or it was computed with recording off)",
                            who, tg_tensor_desc(root, a, sizeof a));
    if (!grad_output) {
        if (root->numel != 1)
            return tg_tape_fail(t, TG_ERR_SHAPE,
                                "%s: root %s is not a scalar; pass grad_output (dL/droot) of the same shape", who,
                                tg_tensor_desc(root, a, sizeof a));
        return TG_OK;
    }
    if (!tg_same_shape(root, grad_output) || root->dtype != grad_output->dtype)
        return tg_tape_fail(t, TG_ERR_SHAPE, "%s: grad_output %s does not match root %s", who,
                            tg_tensor_desc(grad_output, b, sizeof b), tg_tensor_desc(root, a, sizeof a));
    return TG_OK;
}

/* The one backward walk. accumulate: into ->grad (tg_backward); otherwise the
 * caller reads pending gradients of its inputs (tg_grad). */
static tg_status run(tg_tape *t, const char *who, int n_outputs, tg_tensor *const *outputs,
                     tg_tensor *const *grad_outputs, bool create_graph, bool retain_graph, bool accumulate_leaves,
                     int n_keep, tg_tensor *const *keep, uint64_t *pass_out) {
    if (!t) return tg_set_error(TG_ERR_ARG, "%s: tape is NULL", who);
    if (tg_tape_status(t))
        return tg_set_error(tg_tape_status(t), "%s: the tape holds an earlier error: %s", who, tg_tape_error(t));
    if (tg_tape_in_backward(t)) return tg_tape_fail(t, TG_ERR_STATE, "%s: a backward pass is already running", who);
    for (int k = 0; k < n_outputs; k++) {
        tg_status st = check_output(t, who, outputs[k], grad_outputs ? grad_outputs[k] : NULL);
        if (st) return st;
    }
    if (tg_fuse_realize(t, n_outputs, outputs)) return tg_tape_status(t); /* roots left pending by a fusion scope */
    int64_t top = -1;
    for (int k = 0; k < n_outputs; k++)
        if (outputs[k]->node && outputs[k]->node->index > top) top = outputs[k]->node->index;
    for (int k = 0; k < n_outputs; k++)
        if (outputs[k]->node && outputs[k]->node->released)
            return tg_tape_fail(t, TG_ERR_STATE,
                                "%s: the graph was released by an earlier backward pass; pass retain_graph "
                                "(or create_graph) to the first one to run backward twice",
                                who);

    walk w = {.t = t, .who = who, .pass = atomic_fetch_add(&pass_counter, 1) + 1,
              .anomaly = tg_tape_detect_anomaly(t)};
    *pass_out = w.pass;
    const tg_leaf_use *plan = NULL;
    int64_t flushes_left = accumulate_leaves ? tg_tape_leaf_uses(t, &plan) : 0;
    while (flushes_left > 0 && plan[flushes_left - 1].index > top) flushes_left--; /* used above the root only */
    if (!create_graph && !retain_graph) w.release = tg_release_begin(t, w.pass, n_keep, keep);
    bool was_enabled = tg_tape_set_grad_enabled(t, create_graph);
    tg_tape_set_in_backward(t, true);
    /* the backward rules' pointwise ops run fused: a gradient is computed when
     * an op that is not pointwise needs it, or flushed into ->grad */
    int fusion_depth = tg_tape_fusion_depth(t);
    tg_tape_set_fusion_depth(t, fusion_depth + 1);
    tg_status st = TG_OK;
    for (int k = 0; k < n_outputs && !st; k++) {
        tg_tensor *seed = grad_outputs && grad_outputs[k] ? grad_outputs[k]
                                                          : tg_ones(t, outputs[k]->dtype, outputs[k]->ndim,
                                                                    outputs[k]->shape);
        st = seed ? gather(&w, outputs[k], seed) : tg_tape_status(t);
    }
    for (int64_t i = top; i >= 0 && !st; i--) {
        const tg_node *node = tg_tape_node(t, i);
        tg_tensor *out = node->output;
        if (out->pending_pass != w.pass || !out->requires_grad) {
            if (plan) st = flush_at(&w, i, plan, &flushes_left);
            tg_release_collect(w.release, i);
            continue;
        }
        if (node->released) {
            st = tg_tape_fail(t, TG_ERR_STATE,
                              "%s: op '%s' was released by an earlier backward pass; pass retain_graph to it", who,
                              node->op->name);
            break;
        }
        if ((st = check_versions(&w, node))) break;
        if (accumulate_leaves && out->keeps_grad && (st = accumulate(&w, out, out->pending_grad))) break;
        st = step(&w, node);
        if (!st && !retain_graph && !create_graph) {
            /* like PyTorch, a pass without retain_graph frees the nodes it goes
             * through, and the gradients of intermediates (memory reused) */
            tg_tape_release_node(t, i);
            bool asked = false; /* tg_grad reads its inputs' gradients at the end */
            for (int k = 0; k < n_keep && !asked; k++) asked = keep[k] == out;
            if (!asked) {
                tg_release_consumed(w.release, out->pending_grad);
                out->pending_grad = NULL;
            }
        }
        if (!st && plan) st = flush_at(&w, i, plan, &flushes_left);
        tg_release_collect(w.release, i);
    }
    if (!st && accumulate_leaves) st = flush_roots(&w, n_outputs, outputs);
    if (!st && accumulate_leaves) st = land(&w);
    tg_tape_set_fusion_depth(t, fusion_depth);
    tg_tape_set_in_backward(t, false);
    tg_tape_set_grad_enabled(t, was_enabled);
    return st;
}

tg_status tg_backward(tg_tape *t, tg_tensor *root, const tg_backward_opts *opts) {
    tg_backward_opts none = {0};
    if (!opts) opts = &none;
    uint64_t pass;
    tg_tensor *grad_output = opts->grad_output;
    return run(t, "tg_backward", 1, &root, &grad_output, opts->create_graph, opts->retain_graph, true, 0, NULL, &pass);
}

tg_status tg_grad(tg_tape *t, int n_outputs, tg_tensor *const *outputs, tg_tensor *const *grad_outputs,
                  int n_inputs, tg_tensor *const *inputs, tg_tensor **grads, const tg_grad_opts *opts) {
    tg_grad_opts none = {0};
    if (!opts) opts = &none;
    if (!t) return tg_set_error(TG_ERR_ARG, "tg_grad: tape is NULL");
    if (n_outputs < 1 || !outputs || n_inputs < 1 || !inputs || !grads)
        return tg_set_error(TG_ERR_ARG, "tg_grad: needs at least one output, one input and a grads array");
    char desc[96];
    for (int i = 0; i < n_inputs; i++) {
        grads[i] = NULL;
        if (!inputs[i]) return tg_set_error(TG_ERR_ARG, "tg_grad: input %d is NULL", i);
        const char *why = tg_tape_check_tensor(t, inputs[i]);
        if (why)
            return tg_set_error(tg_tape_is_stale(t, inputs[i]) ? TG_ERR_STATE : TG_ERR_ARG, "tg_grad: input %d %s", i,
                                why);
        /* no gradient is tracked for it, so zeros could be wrong: refuse (PyTorch too) */
        if (!inputs[i]->requires_grad)
            return tg_set_error(TG_ERR_ARG,
                                "tg_grad: input %d (%s) does not require a gradient; mark it with "
                                "tg_requires_grad before the forward pass",
                                i, tg_tensor_desc(inputs[i], desc, sizeof desc));
    }
    uint64_t pass;
    tg_status st = run(t, "tg_grad", n_outputs, outputs, grad_outputs, opts->create_graph, opts->retain_graph, false,
                       n_inputs, inputs, &pass);
    if (st) return st;
    for (int i = 0; i < n_inputs; i++) {
        const tg_tensor *x = inputs[i];
        if (x->pending_pass == pass) {
            grads[i] = x->pending_grad;
        } else if (opts->materialize_grads) {
            if (!(grads[i] = tg_zeros(t, x->dtype, x->ndim, x->shape))) return tg_tape_status(t);
        } else if (!opts->allow_unused) {
            for (int k = 0; k < n_inputs; k++) grads[k] = NULL;
            return tg_set_error(TG_ERR_ARG,
                                "tg_grad: input %d (%s) was not used to compute the outputs; pass allow_unused "
                                "(NULL gradient) or materialize_grads (zeros)",
                                i, tg_tensor_desc(x, desc, sizeof desc));
        }
    }
    return tg_fuse_realize(t, n_inputs, grads);
}
