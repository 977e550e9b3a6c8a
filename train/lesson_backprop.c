/* Lesson "backprop": reverse mode by hand (see lesson_backprop.h). */
#include "train/lesson_backprop.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/params.h"
#include "core/rng.h"
#include "graph/backward.h"
#include "graph/dot.h"
#include "graph/gradcheck.h"
#include "ops/elementwise.h"
#include "ops/unary.h"

static const char *const param_names[TG_BACKPROP_PARAMS] = {"w11", "w12", "b1", "w21", "w22", "b2", "v1", "v2", "c"};

tg_lesson_backprop_opts tg_lesson_backprop_defaults(void) { return (tg_lesson_backprop_opts){.seed = 1, .target = 1}; }

/* a result named for the tables (NULL passes through) */
static tg_tensor *named(tg_tensor *x, const char *name) {
    if (x) tg_tensor_set_name(x, name);
    return x;
}

/* The network on t from the nine parameters p (w11 w12 b1 w21 w22 b2 v1 v2 c)
 * and the constants x1, x2, y: every result a named scalar; returns L. */
static tg_tensor *network(tg_tape *t, tg_tensor *const *p, tg_tensor *x1, tg_tensor *x2, tg_tensor *y) {
    tg_tensor *h[2];
    char name[8];
    for (int j = 0; j < 2; j++) {
        const int k = 3 * j;
        snprintf(name, sizeof name, "m%d1", j + 1);
        tg_tensor *m1 = named(tg_mul(t, p[k], x1), name);          /* w_j1 x1 */
        snprintf(name, sizeof name, "m%d2", j + 1);
        tg_tensor *m2 = named(tg_mul(t, p[k + 1], x2), name);      /* w_j2 x2 */
        snprintf(name, sizeof name, "s%d", j + 1);
        tg_tensor *s = named(tg_add(t, m1, m2), name);
        snprintf(name, sizeof name, "z%d", j + 1);
        tg_tensor *z = named(tg_add(t, s, p[k + 2]), name);        /* + b_j */
        snprintf(name, sizeof name, "h%d", j + 1);
        h[j] = named(tg_tanh(t, z), name);
    }
    tg_tensor *o1 = named(tg_mul(t, p[6], h[0]), "o1");            /* v1 h1 */
    tg_tensor *o2 = named(tg_mul(t, p[7], h[1]), "o2");            /* v2 h2 */
    tg_tensor *q = named(tg_add(t, o1, o2), "q");
    tg_tensor *y_hat = named(tg_add(t, q, p[8]), "y_hat");         /* + c */
    tg_tensor *e = named(tg_sub(t, y_hat, y), "e");
    tg_tensor *e2 = named(tg_square(t, e), "e2");
    return named(tg_mul_scalar(t, e2, 0.5), "L");
}

typedef struct sample {
    double x1, x2, y;
} sample;

static tg_tensor *constant(tg_tape *t, double v, const char *name) { return named(tg_scalar(t, TG_F64, v), name); }

/* for tg_gradcheck: L as a function of the nine parameters */
static tg_tensor *loss_of(tg_tape *t, tg_tensor **inputs, void *user) {
    const sample *s = user;
    return network(t, inputs, constant(t, s->x1, "x1"), constant(t, s->x2, "x2"), constant(t, s->y, "y"));
}

/* U(-1, 1) rounded to 0.1, never 0 (a zero weight would hide its unit) */
static double tenth(tg_rng *rng) {
    double v = 0;
    while (v == 0) v = round(10 * (2 * tg_rng_uniform(rng) - 1)) / 10;
    return v;
}

/* The parameters in a store (trainable, as in a model), at the lesson's values. */
static tg_params *make_params(const tg_lesson_backprop_result *r, tg_tensor **p) {
    tg_params *store = tg_params_new();
    for (int k = 0; store && k < TG_BACKPROP_PARAMS; k++) {
        p[k] = tg_param(store, param_names[k], TG_F64, 0, NULL, TG_INIT_ZEROS, NULL);
        if (!p[k]) {
            tg_params_free(store);
            return NULL;
        }
        tg_set(p[k], 0, r->params[k].value);
    }
    return store;
}

/* The lesson's network at its values: the parameters in a new store, the
 * forward pass on a new tape, both for the caller to free; on error nothing. */
static tg_status build(const tg_lesson_backprop_result *r, tg_params **store, tg_tensor **p, tg_tape **t,
                       tg_tensor **loss) {
    *store = make_params(r, p);
    *t = *store ? tg_tape_new() : NULL;
    *loss = *t ? network(*t, p, constant(*t, r->x[0], "x1"), constant(*t, r->x[1], "x2"), constant(*t, r->y, "y"))
               : NULL;
    if (*loss) return TG_OK;
    tg_status st = *t ? tg_tape_status(*t) : tg_last_status() ? tg_last_status() : TG_ERR_NOMEM;
    tg_tape_free(*t);
    tg_params_free(*store);
    return st;
}

static const char *input_name(const tg_tensor *x) { return x->name ? x->name : "?"; }

/* Reads the forward pass off the tape: names, ops, values, and each node's
 * local derivatives from its op's backward rule applied to dL/dnode = 1. */
static tg_status read_forward(tg_tape *t, tg_lesson_backprop_result *r) {
    int64_t n = tg_tape_node_count(t);
    if (n > TG_BACKPROP_MAX_NODES) return tg_set_error(TG_ERR_STATE, "lesson backprop: %lld nodes", (long long)n);
    r->n_nodes = (int)n;
    bool was = tg_tape_set_grad_enabled(t, false); /* the rules' own operations stay off the tape */
    tg_status st = TG_OK;
    for (int64_t i = 0; i < n && !st; i++) {
        const tg_node *node = tg_tape_node(t, i);
        tg_backprop_node *b = &r->nodes[i];
        snprintf(b->name, sizeof b->name, "%s", input_name(node->output));
        snprintf(b->op, sizeof b->op, "%s", node->op->name);
        b->n_inputs = node->n_inputs < 2 ? node->n_inputs : 2;
        b->value = tg_item(node->output);
        tg_tensor *one = tg_ones(t, TG_F64, 0, NULL), *grad_in[2] = {NULL, NULL};
        st = one ? node->op->backward(t, node, one, grad_in) : tg_tape_status(t);
        for (int k = 0; k < b->n_inputs && !st; k++) {
            snprintf(b->inputs[k], sizeof b->inputs[k], "%s", input_name(node->inputs[k]));
            b->local[k] = grad_in[k] ? tg_item(grad_in[k]) : NAN;
        }
    }
    tg_tape_set_grad_enabled(t, was);
    return st;
}

/* |dL/dt - sum over t's users of dL/duser x d user / d t| over every node and parameter */
static double chain_rule_error(const tg_lesson_backprop_result *r) {
    double worst = 0;
    for (int i = -TG_BACKPROP_PARAMS; i < r->n_nodes; i++) {
        const char *name = i < 0 ? r->params[i + TG_BACKPROP_PARAMS].name : r->nodes[i].name;
        double grad = i < 0 ? r->params[i + TG_BACKPROP_PARAMS].grad : r->nodes[i].grad, sum = 0;
        bool used = false;
        for (int u = 0; u < r->n_nodes; u++)
            for (int k = 0; k < r->nodes[u].n_inputs; k++)
                if (strcmp(r->nodes[u].inputs[k], name) == 0) {
                    sum += r->nodes[u].grad * r->nodes[u].local[k];
                    used = true;
                }
        if (used) worst = fmax(worst, fabs(grad - sum));
    }
    return worst;
}

tg_status tg_lesson_backprop_run(const tg_lesson_backprop_opts *o, tg_lesson_backprop_result *r) {
    if (!o || !r) return tg_set_error(TG_ERR_ARG, "tg_lesson_backprop_run: options or result is NULL");
    if (!isfinite(o->target))
        return tg_set_error(TG_ERR_ARG, "tg_lesson_backprop_run: target %g must be finite", o->target);
    memset(r, 0, sizeof *r);
    r->opts = *o;
    tg_rng rng = tg_rng_new(o->seed);
    r->x[0] = tenth(&rng);
    r->x[1] = tenth(&rng);
    r->y = o->target;
    for (int k = 0; k < TG_BACKPROP_PARAMS; k++) {
        snprintf(r->params[k].name, sizeof r->params[k].name, "%s", param_names[k]);
        r->params[k].value = tenth(&rng);
    }
    tg_tensor *p[TG_BACKPROP_PARAMS], *loss;
    tg_params *store;
    tg_tape *t;
    tg_status st = build(r, &store, p, &t, &loss);
    if (st) return st;
    st = read_forward(t, r);
    /* keep every node's gradient, then one backward pass */
    for (int64_t i = 0; i < tg_tape_node_count(t) && !st; i++) st = tg_requires_grad(tg_tape_node(t, i)->output);
    if (!st) st = tg_backward(t, loss, NULL);
    if (!st) {
        r->loss = tg_item(loss);
        for (int i = 0; i < r->n_nodes; i++) {
            const tg_tensor *out = tg_tape_node(t, i)->output;
            r->nodes[i].grad = out->grad ? tg_item(out->grad) : NAN;
        }
        for (int k = 0; k < TG_BACKPROP_PARAMS; k++) r->params[k].grad = tg_item(p[k]->grad);
        r->chain_rule_error = chain_rule_error(r);
    }
    /* central differences: one parameter at a time (the others held constant), then all at once */
    sample s = {r->x[0], r->x[1], r->y};
    tg_gradcheck_report report;
    for (int k = 0; k < TG_BACKPROP_PARAMS && !st; k++) {
        tg_gradcheck_opts g = {.constant_inputs = ((1u << TG_BACKPROP_PARAMS) - 1) & ~(1u << k)};
        st = tg_gradcheck(loss_of, &s, TG_BACKPROP_PARAMS, p, &g, &report);
        if (st == TG_ERR_CHECK) st = TG_OK; /* a disagreement is a finding, shown in the table */
        r->params[k].numerical = report.numerical;
        r->max_abs_error = fmax(r->max_abs_error, fabs(r->params[k].grad - report.numerical));
    }
    if (!st) {
        st = tg_gradcheck(loss_of, &s, TG_BACKPROP_PARAMS, p, NULL, &report);
        r->gradcheck_passed = st == TG_OK;
        if (st == TG_ERR_CHECK) st = TG_OK;
    }
    tg_tape_free(t);
    tg_params_free(store);
    return st;
}

/* ---- the tables and the reading ---- */

static void print_value(FILE *out, double v) {
    if (isnan(v))
        fprintf(out, " %11s", "-");
    else
        fprintf(out, " %11.6f", v);
}

static const tg_backprop_node *node_named(const tg_lesson_backprop_result *r, const char *name) {
    for (int i = 0; i < r->n_nodes; i++)
        if (strcmp(r->nodes[i].name, name) == 0) return &r->nodes[i];
    return NULL;
}

void tg_lesson_backprop_print(FILE *out, const tg_lesson_backprop_result *r) {
    if (!out || !r) return;
    fprintf(out,
            "a 2-2-1 network on one sample, every value a scalar, so that each node of the tape is one number:\n"
            "  h_j = tanh(w_j1 x1 + w_j2 x2 + b_j),  y_hat = v1 h1 + v2 h2 + c,  L = 1/2 (y_hat - y)^2\n"
            "sample x1 = %g, x2 = %g, target y = %g; parameters",
            r->x[0], r->x[1], r->y);
    for (int k = 0; k < TG_BACKPROP_PARAMS; k++) fprintf(out, "%s %s = %g", k ? "," : "", r->params[k].name, r->params[k].value);
    fprintf(out, "\n\nforward: the operations in the order the tape recorded them\n\n");
    fprintf(out, "  %3s  %-6s %-11s %-12s %11s\n", "#", "node", "op", "inputs", "value");
    for (int i = 0; i < r->n_nodes; i++) {
        const tg_backprop_node *b = &r->nodes[i];
        char inputs[24];
        snprintf(inputs, sizeof inputs, "%s%s%s", b->inputs[0], b->n_inputs > 1 ? ", " : "",
                 b->n_inputs > 1 ? b->inputs[1] : "");
        fprintf(out, "  %3d  %-6s %-11s %-12s", i + 1, b->name, b->op, inputs);
        print_value(out, b->value);
        fputc('\n', out);
    }
    fprintf(out,
            "\nbackward: the tape in reverse. dL/dnode is complete when the node is reached (every user of it\n"
            "came later in the forward pass); each input receives dL/dnode x d node / d input\n\n");
    fprintf(out, "  %-6s %-11s %11s  %-6s %13s %13s\n", "node", "op", "dL/dnode", "input", "d node/d input",
            "passes on");
    for (int i = r->n_nodes - 1; i >= 0; i--) {
        const tg_backprop_node *b = &r->nodes[i];
        for (int k = 0; k < b->n_inputs; k++) {
            if (k == 0)
                fprintf(out, "  %-6s %-11s %11.6f", b->name, b->op, b->grad);
            else
                fprintf(out, "  %-6s %-11s %11s", "", "", "");
            fprintf(out, "  %-6s", b->inputs[k]);
            if (isnan(b->local[k]))
                fprintf(out, " %13s %13s\n", "-", "(constant)");
            else
                fprintf(out, " %13.6f %13.6f\n", b->local[k], b->grad * b->local[k]);
        }
    }
    fprintf(out, "\nparameters: backprop against central differences (tg_gradcheck, eps 1e-6)\n\n");
    fprintf(out, "  %-9s %9s %16s %16s %11s\n", "parameter", "value", "dL/dp backprop", "numerical", "difference");
    for (int k = 0; k < TG_BACKPROP_PARAMS; k++) {
        const tg_backprop_param *q = &r->params[k];
        fprintf(out, "  %-9s %9g %16.10f %16.10f %11.2e\n", q->name, q->value, q->grad, q->numerical,
                fabs(q->grad - q->numerical));
    }
    fprintf(out, "  tg_gradcheck over all nine parameters at once: %s\n", r->gradcheck_passed ? "passed" : "FAILED");

    /* the reading: one chain written out, then the checks */
    const tg_backprop_node *e = node_named(r, "e"), *h1 = node_named(r, "h1"), *z1 = node_named(r, "z1");
    tg_paragraph p = {.len = 0};
    tg_paragraph_add(&p,
                     "The forward pass recorded %d operations and L = %.6f; the backward pass visits each once, "
                     "in reverse, starting from dL/dL = 1.",
                     r->n_nodes, r->loss);
    if (e && h1 && z1) {
        double v1 = r->params[6].value, x1 = r->x[0];
        double by_hand = e->value * v1 * (1 - h1->value * h1->value) * x1;
        tg_paragraph_add(&p,
                         " Following one path: dL/de = e = %.6f; y_hat = q + c and q = o1 + o2 pass it on unchanged; "
                         "o1 = v1 h1 multiplies it by v1 = %g; h1 = tanh(z1) by 1 - h1^2 = %.6f; z1 and s1 pass it on; "
                         "m11 = w11 x1 multiplies by x1 = %g. So dL/dw11 = e v1 (1 - h1^2) x1 = %.6f, and backprop "
                         "gave %.6f.",
                         e->value, v1, 1 - h1->value * h1->value, x1, by_hand, r->params[0].grad);
    }
    int largest = 0, smallest = 0;
    for (int k = 1; k < TG_BACKPROP_PARAMS; k++) {
        if (fabs(r->params[k].grad) > fabs(r->params[largest].grad)) largest = k;
        if (fabs(r->params[k].grad) < fabs(r->params[smallest].grad)) smallest = k;
    }
    tg_paragraph_add(&p,
                     " The largest gradient is %s's (%.3g), the smallest %s's (%.3g). Every node's gradient equals "
                     "the sum of what its users passed on (largest difference %.1e), and central differences agree "
                     "with backprop for all nine parameters (largest difference %.1e)%s.",
                     r->params[largest].name, r->params[largest].grad, r->params[smallest].name,
                     r->params[smallest].grad, r->chain_rule_error, r->max_abs_error,
                     r->gradcheck_passed ? "; tg_gradcheck passes" : "; tg_gradcheck FAILS");
    fputc('\n', out);
    tg_paragraph_print(out, &p);
}

/* ---- the picture: the network's graph with its gradients ---- */

tg_status tg_lesson_backprop_plot(const tg_lesson_backprop_result *r, const char *path) {
    if (!r || !path) return tg_set_error(TG_ERR_ARG, "tg_lesson_backprop_plot: result or path is NULL");
    tg_tensor *p[TG_BACKPROP_PARAMS], *loss;
    tg_params *store;
    tg_tape *t;
    tg_status st = build(r, &store, p, &t, &loss);
    if (st) return st;
    st = tg_backward(t, loss, NULL);
    if (!st)
        st = tg_dot_render(t, loss, path,
                           &(tg_dot_opts){.direction = TG_DOT_LR, .show_grads = true,
                                          .title = "the lesson's network: each edge carries dL/d(its tensor)"});
    tg_tape_free(t);
    tg_params_free(store);
    return st;
}

/* ---- the registry entry ---- */

static void defaults(void *options) { *(tg_lesson_backprop_opts *)options = tg_lesson_backprop_defaults(); }

static tg_status run(const void *options, FILE *out, const char *plot_path) {
    tg_lesson_backprop_result r;
    tg_status st = tg_lesson_backprop_run(options, &r);
    if (!st) tg_lesson_backprop_print(out, &r);
    if (!st && plot_path) st = tg_lesson_backprop_plot(&r, plot_path);
    return st;
}

#define OPT(field) offsetof(tg_lesson_backprop_opts, field)
static const tg_lesson_option options[] = {
    {"--seed", TG_LESSON_SEED, OPT(seed), 0, 0, "the sample and the weights"},
    {"--target", TG_LESSON_REAL, OPT(target), -1e6, 1e6, "the target y"},
};

const tg_lesson tg_lesson_backprop = {
    .name = "backprop",
    .title = "backpropagation, step by step",
    .summary = "a 2-2-1 network of scalars: every value, local derivative and gradient, checked by central differences",
    .options_size = sizeof(tg_lesson_backprop_opts),
    .defaults = defaults,
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .picture_formats = ".svg .png .pdf .dot .gv",
    .run = run,
};
