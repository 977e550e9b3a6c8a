/* Fusion's records (see ops/fusion.c): each tensor a pass computes becomes
 * one node on the tape, its op alone or a "fused" node holding its steps,
 * whose backward rule runs the steps' own rules. */
#include "ops/fusion_private.h"

#include "ops/describe.h"
#include "ops/elementwise.h"

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
tg_status tg_pass_record(tg_tape *t, const pass *p, const output *out) {
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

