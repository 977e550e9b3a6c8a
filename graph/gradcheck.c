/* Gradient checking by central differences (see graph/gradcheck.h).
 *
 * One checker serves both orders: it checks a function of n inputs with
 * several outputs. First order: the outputs are {f(x)}. Second order: the
 * inputs are x plus a grad_output v and the outputs are the gradients
 * tg_grad(f(x), x, v, create_graph), one per differentiated input.
 *
 * Two tapes: `tape` holds the graph the backward passes run on (rebuilt when
 * its arena grows past REBUILD_BYTES), `scratch` is reset before every
 * evaluation of the function at a perturbed point. */
#include "graph/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "graph/backward.h"

enum { MAX_IN = TG_GRADCHECK_MAX_INPUTS };
#define MAX_JACOBIAN ((int64_t)1 << 24)    /* elements of the full analytical Jacobian (128 MiB) */
#define REBUILD_BYTES ((size_t)256 << 20) /* arena size after which the analytical graph is rebuilt */

typedef struct problem problem;
struct problem {
    const char *who;
    int n;                    /* inputs */
    tg_tensor *const *inputs; /* values, only read */
    unsigned constant;        /* bit i: input i is not differentiated */
    /* builds the outputs on t from in (already on t): their count, or -1 after an error on t */
    int (*eval)(problem *p, tg_tape *t, tg_tensor **in, tg_tensor **out);
    tg_fn f;
    void *user;
    bool second_order;
    int output_input[MAX_IN]; /* second order: output k is the gradient of input output_input[k] */
    bool backward_failed;     /* second order: the inner tg_grad failed while building */
};

typedef struct checker {
    problem *p;
    double eps, atol, rtol;
    tg_rng rng;
    tg_gradcheck_report *r;
    double worst_ratio; /* of the reported element: |num - ana| / (atol + rtol |num|) */
    tg_tape *tape, *scratch;
    tg_tensor *in[MAX_IN], *out[MAX_IN]; /* on `tape` */
    int n_out;
    int64_t out_offset[MAX_IN], total_out;
    int diff[MAX_IN], n_diff; /* differentiated inputs */
    int64_t in_offset[MAX_IN], total_in;
} checker;

static bool is_constant(const problem *p, int i) { return (p->constant >> i) & 1u; }

/* ---- the functions under check ---- */
static int eval_first(problem *p, tg_tape *t, tg_tensor **in, tg_tensor **out) {
    out[0] = p->f(t, in, p->user);
    return out[0] ? 1 : -1;
}

/* g(x, v) = tg_grad(f(x), x, v, create_graph); v is the last input */
static int eval_second(problem *p, tg_tape *t, tg_tensor **in, tg_tensor **out) {
    tg_tensor *y = p->f(t, in, p->user);
    if (!y) return -1;
    tg_tensor *diff[MAX_IN];
    int m = 0;
    for (int i = 0; i < p->n - 1; i++)
        if (!is_constant(p, i)) diff[m++] = in[i];
    if (!y->requires_grad) { /* f is piecewise constant: every gradient is a constant zero */
        for (int k = 0; k < m; k++)
            if (!(out[k] = tg_zeros(t, diff[k]->dtype, diff[k]->ndim, diff[k]->shape))) return -1;
        return m;
    }
    tg_grad_opts opts = {.create_graph = true, .materialize_grads = true};
    if (tg_grad(t, 1, &y, &in[p->n - 1], m, diff, out, &opts)) {
        p->backward_failed = true;
        return -1;
    }
    return m;
}

/* ---- building on a tape ---- */
/* Copies the inputs onto t (input `which` moved by delta at element `elem`, or
 * along `dir` when dir is not NULL), marks the differentiated ones and builds
 * the outputs. Returns the output count or -1. */
static int build(checker *c, tg_tape *t, tg_tensor **in, tg_tensor **out, int which, int64_t elem, double delta,
                 const double *dir) {
    problem *p = c->p;
    tg_tape_reset(t);
    for (int i = 0; i < p->n; i++) {
        const tg_tensor *x = p->inputs[i];
        if (!(in[i] = tg_tensor_from(t, x->dtype, x->ndim, x->shape, x->data))) return -1;
        if (i == which && dir)
            for (int64_t j = 0; j < x->numel; j++) tg_set(in[i], j, tg_get(x, j) + delta * dir[j]);
        else if (i == which)
            tg_set(in[i], elem, tg_get(x, elem) + delta);
        if (!is_constant(p, i)) tg_requires_grad(in[i]);
    }
    return p->eval(p, t, in, out);
}

static tg_status fail(checker *c, tg_status status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static tg_status fail(checker *c, tg_status status, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    int len = snprintf(c->r->message, sizeof c->r->message, "%s: ", c->p->who);
    vsnprintf(c->r->message + len, sizeof c->r->message - (size_t)len, fmt, args);
    va_end(args);
    c->r->passed = false;
    return status;
}

/* After build returned -1 on t: f's error, or a failed backward rule (a failed check). */
static tg_status build_failed(checker *c, tg_tape *t) {
    tg_status st = tg_tape_status(t);
    if (c->p->backward_failed) return fail(c, TG_ERR_CHECK, "the backward pass failed: %s", tg_tape_error(t));
    if (!st) return fail(c, TG_ERR_ARG, "f returned NULL without an error on its tape");
    return fail(c, st, "f failed on the inputs: %s", tg_tape_error(t));
}

/* Builds the graph on c->tape and checks the outputs. */
static tg_status build_graph(checker *c) {
    int n_out = build(c, c->tape, c->in, c->out, -1, 0, 0, NULL);
    if (n_out < 0) return build_failed(c, c->tape);
    if (c->n_out && n_out != c->n_out) return fail(c, TG_ERR_ARG, "f gave a different result when run again");
    c->n_out = n_out;
    int64_t offset = 0;
    for (int k = 0; k < n_out; k++) {
        tg_tensor *y = c->out[k];
        if (y->tape != c->tape)
            return fail(c, TG_ERR_ARG, "f returned a tensor that is not on the tape it was given");
        if (c->total_out && c->out_offset[k] != offset)
            return fail(c, TG_ERR_ARG, "f gave a different result when run again");
        c->out_offset[k] = offset;
        offset += y->numel;
    }
    c->total_out = offset;
    return TG_OK;
}

/* Evaluates the outputs at a perturbed point into values[total_out] (scratch tape). */
static tg_status evaluate(checker *c, int which, int64_t elem, double delta, const double *dir, double *values) {
    tg_tensor *in[MAX_IN], *out[MAX_IN];
    int n_out = build(c, c->scratch, in, out, which, elem, delta, dir);
    if (n_out < 0) return build_failed(c, c->scratch);
    for (int k = 0; k < n_out && k < c->n_out; k++)
        if (out[k]->numel != c->out[k]->numel) n_out = -1;
    if (n_out != c->n_out) return fail(c, TG_ERR_ARG, "f gave outputs of another shape at a perturbed point");
    for (int k = 0; k < n_out; k++) tg_tensor_to_f64(out[k], values + c->out_offset[k]);
    return TG_OK;
}

/* grads[i] for every differentiated input from one backward pass seeded with
 * seeds[k] for every output that requires a gradient (zeros for the others). */
static tg_status backward(checker *c, tg_tensor **seeds, tg_tensor **grads) {
    tg_tensor *outs[MAX_IN], *outs_seeds[MAX_IN], *diff[MAX_IN];
    int n = 0;
    for (int k = 0; k < c->n_out; k++)
        if (c->out[k]->requires_grad && seeds[k]) {
            outs[n] = c->out[k];
            outs_seeds[n++] = seeds[k];
        }
    for (int i = 0; i < c->n_diff; i++) diff[i] = c->in[c->diff[i]];
    if (n == 0) {
        for (int i = 0; i < c->n_diff; i++)
            if (!(grads[i] = tg_zeros(c->tape, diff[i]->dtype, diff[i]->ndim, diff[i]->shape)))
                return fail(c, tg_tape_status(c->tape), "%s", tg_tape_error(c->tape));
        return TG_OK;
    }
    tg_grad_opts opts = {.retain_graph = true, .materialize_grads = true};
    if (tg_grad(c->tape, n, outs, outs_seeds, c->n_diff, diff, grads, &opts))
        return fail(c, TG_ERR_CHECK, "the backward pass failed: %s", tg_last_error());
    return TG_OK;
}

/* ---- comparing ---- */
static void describe(const checker *c, int input, int output, int64_t oi, int64_t ii, char *buf, size_t size) {
    const problem *p = c->p;
    char of[64], wrt[64];
    if (p->second_order)
        snprintf(of, sizeof of, "(gradient of input %d)", p->output_input[output]);
    else
        snprintf(of, sizeof of, "output");
    if (p->second_order && input == p->n - 1)
        snprintf(wrt, sizeof wrt, "grad_output");
    else
        snprintf(wrt, sizeof wrt, "input %d", input);
    if (oi < 0)
        snprintf(buf, size, "u^T J v for %s (fast mode)", wrt);
    else
        snprintf(buf, size, "d %s[%lld] / d %s[%lld]", of, (long long)oi, wrt, (long long)ii);
}

static void consider(checker *c, int input, int output, int64_t oi, int64_t ii, double num, double ana) {
    tg_gradcheck_report *r = c->r;
    double abs_error = fabs(num - ana);
    double scale = fmax(fabs(num), c->rtol > 0 ? c->atol / c->rtol : 0);
    double rel_error = scale > 0 ? abs_error / scale : (abs_error > 0 ? INFINITY : 0);
    double tol = c->atol + c->rtol * fabs(num);
    double ratio = tol > 0 ? abs_error / tol : (abs_error > 0 ? INFINITY : 0);
    if (isnan(ratio)) ratio = INFINITY;
    if (isnan(abs_error) || abs_error > r->max_abs_error) r->max_abs_error = abs_error;
    if (isnan(rel_error) || rel_error > r->max_rel_error) r->max_rel_error = rel_error;
    if (ratio <= c->worst_ratio) return;
    c->worst_ratio = ratio;
    r->input = input;
    r->output = output;
    r->output_index = oi;
    r->input_index = ii;
    r->numerical = num;
    r->analytical = ana;
    r->abs_error = abs_error;
    r->rel_error = rel_error;
}

static tg_status verdict(checker *c) {
    tg_gradcheck_report *r = c->r;
    if (c->worst_ratio <= 1) return TG_OK;
    char where[160];
    describe(c, r->input, r->output, r->output_index, r->input_index, where, sizeof where);
    /* a jump of the function, not a slope: typical of a mask or index given as an input */
    bool jump = r->analytical == 0 && fabs(r->numerical) * c->eps > 1e-3;
    return fail(c, TG_ERR_CHECK,
                "%s: numerical %.10g, analytical %.10g (abs error %.3g, rel error %.3g; eps %g, atol %g, rtol %g): "
                "the backward rule disagrees with central differences%s",
                where, r->numerical, r->analytical, r->abs_error, r->rel_error, c->eps, c->atol, c->rtol,
                jump ? " (the function jumps there: if that input is a mask, an index or a condition, mark it in "
                       "constant_inputs)"
                     : "");
}

/* Every element: analytical rows J[k][.] from one-hot backward passes, then
 * numerical columns from two evaluations per input element. */
static tg_status full_jacobian(checker *c) {
    if (c->total_out > 0 && c->total_in > MAX_JACOBIAN / c->total_out)
        return fail(c, TG_ERR_ARG, "a %lld x %lld Jacobian is too large for the full check: use fast_mode",
                    (long long)c->total_out, (long long)c->total_in);
    size_t cells = (size_t)(c->total_out * c->total_in);
    double *J = calloc(cells ? cells : 1, sizeof *J);
    double *plus = malloc(sizeof(double) * (size_t)(c->total_out + 1));
    double *minus = malloc(sizeof(double) * (size_t)(c->total_out + 1));
    tg_status st = J && plus && minus ? TG_OK : fail(c, TG_ERR_NOMEM, "out of memory for the Jacobian");
    for (int k = 0; k < c->n_out && !st; k++) {
        for (int64_t e = 0; e < c->out[k]->numel && !st; e++) {
            if (!c->out[k]->requires_grad) break; /* rows stay zero */
            if (tg_tape_arena_used(c->tape) > REBUILD_BYTES && (st = build_graph(c))) break;
            tg_tensor *y = c->out[k], *seeds[MAX_IN] = {0}, *grads[MAX_IN];
            if (!(seeds[k] = tg_zeros(c->tape, y->dtype, y->ndim, y->shape))) {
                st = fail(c, tg_tape_status(c->tape), "%s", tg_tape_error(c->tape));
                break;
            }
            tg_set(seeds[k], e, 1.0);
            if ((st = backward(c, seeds, grads))) break;
            double *row = J + (size_t)(c->out_offset[k] + e) * (size_t)c->total_in;
            for (int i = 0; i < c->n_diff; i++) tg_tensor_to_f64(grads[i], row + c->in_offset[i]);
        }
    }
    for (int d = 0; d < c->n_diff && !st; d++) {
        int i = c->diff[d];
        for (int64_t j = 0; j < c->p->inputs[i]->numel && !st; j++) {
            if ((st = evaluate(c, i, j, c->eps, NULL, plus)) || (st = evaluate(c, i, j, -c->eps, NULL, minus))) break;
            for (int k = 0; k < c->n_out; k++)
                for (int64_t e = 0; e < c->out[k]->numel; e++) {
                    int64_t row = c->out_offset[k] + e;
                    double num = (plus[row] - minus[row]) / (2 * c->eps);
                    consider(c, i, k, e, j, num, J[(size_t)row * (size_t)c->total_in + (size_t)(c->in_offset[d] + j)]);
                }
        }
    }
    free(J);
    free(plus);
    free(minus);
    return st ? st : verdict(c);
}

/* Random seeds u (uniform in [-1, 1]) for every output, on c->tape; values in u_values. */
static tg_status random_seeds(checker *c, tg_tensor **seeds, double *u_values) {
    for (int k = 0; k < c->n_out; k++) {
        tg_tensor *y = c->out[k];
        if (!(seeds[k] = tg_tensor_empty(c->tape, y->dtype, y->ndim, y->shape)))
            return fail(c, tg_tape_status(c->tape), "%s", tg_tape_error(c->tape));
        for (int64_t e = 0; e < y->numel; e++) {
            tg_set(seeds[k], e, 2 * tg_rng_uniform(&c->rng) - 1);
            if (u_values) u_values[c->out_offset[k] + e] = tg_get(seeds[k], e);
        }
    }
    return TG_OK;
}

/* Per differentiated input i: u^T (J_i v_i) numerically (x_i moved along a
 * random +-1 vector v_i) against v_i . (J_i^T u) from one backward pass. */
static tg_status fast_jacobian(checker *c) {
    size_t n_out = (size_t)c->total_out + 1;
    double *u = malloc(sizeof(double) * n_out), *plus = malloc(sizeof(double) * n_out);
    double *minus = malloc(sizeof(double) * n_out), *v = malloc(sizeof(double) * (size_t)(c->total_in + 1));
    tg_tensor *seeds[MAX_IN], *grads[MAX_IN];
    tg_status st = u && plus && minus && v ? TG_OK : fail(c, TG_ERR_NOMEM, "out of memory for the projections");
    if (!st) st = random_seeds(c, seeds, u);
    if (!st) st = backward(c, seeds, grads);
    for (int d = 0; d < c->n_diff && !st; d++) {
        int i = c->diff[d];
        const tg_tensor *g = grads[d];
        double *vi = v + c->in_offset[d], ana = 0, num = 0;
        for (int64_t j = 0; j < g->numel; j++) {
            vi[j] = tg_rng_uniform(&c->rng) < 0.5 ? -1.0 : 1.0;
            ana += vi[j] * tg_get(g, j);
        }
        if ((st = evaluate(c, i, 0, c->eps, vi, plus)) || (st = evaluate(c, i, 0, -c->eps, vi, minus))) break;
        for (int64_t row = 0; row < c->total_out; row++) num += u[row] * (plus[row] - minus[row]) / (2 * c->eps);
        consider(c, i, -1, -1, -1, num, ana);
    }
    free(u);
    free(plus);
    free(minus);
    free(v);
    return st ? st : verdict(c);
}

/* Two backward passes over one graph with the same seeds: bit-identical
 * gradients. Then a zero seed: exactly zero gradients. */
static tg_status reentrancy_and_zero(checker *c) {
    tg_tensor *seeds[MAX_IN], *first[MAX_IN], *again[MAX_IN];
    tg_status st = build_graph(c);
    if (!st) st = random_seeds(c, seeds, NULL);
    if (!st) st = backward(c, seeds, first);
    if (!st) st = backward(c, seeds, again);
    for (int d = 0; d < c->n_diff && !st; d++) {
        uint64_t h1 = tg_tensor_hash(first[d]), h2 = tg_tensor_hash(again[d]);
        if (h1 == h2) continue;
        double worst = 0;
        for (int64_t j = 0; j < first[d]->numel; j++)
            worst = fmax(worst, fabs(tg_get(first[d], j) - tg_get(again[d], j)));
        c->r->input = c->diff[d];
        c->r->abs_error = worst;
        return fail(c, TG_ERR_CHECK,
                    "reentrancy: two backward passes over the same graph gave input %d different gradients "
                    "(XXH3 %016llx vs %016llx, largest difference %.3g); backward must be deterministic",
                    c->diff[d], (unsigned long long)h1, (unsigned long long)h2, worst);
    }
    for (int k = 0; k < c->n_out && !st; k++) {
        tg_tensor *y = c->out[k];
        if (!(seeds[k] = tg_zeros(c->tape, y->dtype, y->ndim, y->shape)))
            st = fail(c, tg_tape_status(c->tape), "%s", tg_tape_error(c->tape));
    }
    if (!st) st = backward(c, seeds, first);
    for (int d = 0; d < c->n_diff && !st; d++)
        for (int64_t j = 0; j < first[d]->numel; j++) {
            double g = tg_get(first[d], j);
            if (g == 0) continue;
            c->r->input = c->diff[d];
            c->r->input_index = j;
            c->r->analytical = g;
            return fail(c, TG_ERR_CHECK, "a zero grad_output gave input %d a nonzero gradient (element %lld is %.6g)",
                        c->diff[d], (long long)j, g);
        }
    return st;
}

/* ---- entry points ---- */
static tg_status check_args(const char *who, tg_fn f, int n, int max, tg_tensor *const *inputs, unsigned constant) {
    if (!f) return tg_set_error(TG_ERR_ARG, "%s: f is NULL", who);
    if (n < 1 || n > max) return tg_set_error(TG_ERR_ARG, "%s: %d inputs given, 1 to %d allowed", who, n, max);
    if (!inputs) return tg_set_error(TG_ERR_ARG, "%s: inputs is NULL", who);
    bool any = false;
    for (int i = 0; i < n; i++) {
        if (!inputs[i]) return tg_set_error(TG_ERR_ARG, "%s: input %d is NULL", who, i);
        if (!((constant >> i) & 1u)) any = true;
    }
    if (!any) return tg_set_error(TG_ERR_ARG, "%s: every input is marked constant: nothing to differentiate", who);
    return TG_OK;
}

static void report_start(tg_gradcheck_report *r) {
    memset(r, 0, sizeof *r);
    r->input = r->output = -1;
    r->output_index = r->input_index = -1;
}

/* Resolves the tolerances (f32 inputs: looser, with a warning in `warning`). */
static tg_status resolve(checker *c, const tg_gradcheck_opts *o, char *warning, size_t size) {
    bool f32 = false;
    for (int i = 0; i < c->p->n; i++) f32 |= c->p->inputs[i]->dtype == TG_F32;
    c->eps = o->eps ? o->eps : f32 ? 1e-3 : 1e-6;
    c->atol = o->atol ? o->atol : f32 ? 1e-2 : 1e-5;
    c->rtol = o->rtol ? o->rtol : f32 ? 1e-2 : 1e-3;
    if (!(c->eps > 0) || !(c->atol >= 0) || !(c->rtol >= 0) || isinf(c->eps) || isinf(c->atol) || isinf(c->rtol))
        return fail(c, TG_ERR_ARG, "eps %g, atol %g, rtol %g: need eps > 0 and finite atol, rtol >= 0", o->eps,
                    o->atol, o->rtol);
    c->r->eps = c->eps;
    c->r->atol = c->atol;
    c->r->rtol = c->rtol;
    warning[0] = '\0';
    if (f32)
        snprintf(warning, size,
                 "warning: f32 inputs are checked in f32 with eps %g, atol %g, rtol %g; use f64 inputs for a "
                 "reliable check",
                 c->eps, c->atol, c->rtol);
    return TG_OK;
}

static tg_status run_check(problem *p, const tg_gradcheck_opts *opts, tg_gradcheck_report *r) {
    tg_gradcheck_opts none = {0};
    if (!opts) opts = &none;
    checker c = {.p = p, .r = r, .worst_ratio = -1, .rng = tg_rng_new(opts->seed)};
    char warning[200];
    tg_status st = resolve(&c, opts, warning, sizeof warning);
    if (!st && (!(c.tape = tg_tape_new()) || !(c.scratch = tg_tape_new())))
        st = fail(&c, TG_ERR_NOMEM, "out of memory for the tapes");
    for (int i = 0; i < p->n; i++)
        if (!is_constant(p, i)) {
            c.diff[c.n_diff] = i;
            c.in_offset[c.n_diff++] = c.total_in;
            c.total_in += p->inputs[i]->numel;
        }
    if (!st) st = build_graph(&c);
    if (!st) st = opts->fast_mode ? fast_jacobian(&c) : full_jacobian(&c);
    if (!st) st = reentrancy_and_zero(&c);
    tg_tape_free(c.tape);
    tg_tape_free(c.scratch);
    r->passed = st == TG_OK;
    if (warning[0]) {
        size_t len = strlen(r->message);
        snprintf(r->message + len, sizeof r->message - len, "%s%s", len ? "; " : "", warning);
        if (!opts->quiet) fprintf(stderr, "%s: %s\n", p->who, warning);
    }
    if (st) tg_set_error(st, "%s", r->message);
    return st;
}

tg_status tg_gradcheck(tg_fn f, void *user, int n, tg_tensor *const *inputs, const tg_gradcheck_opts *opts,
                       tg_gradcheck_report *report) {
    tg_gradcheck_report local;
    if (!report) report = &local;
    report_start(report);
    tg_status st = check_args("tg_gradcheck", f, n, MAX_IN, inputs, opts ? opts->constant_inputs : 0);
    if (st) {
        snprintf(report->message, sizeof report->message, "%s", tg_last_error());
        return st;
    }
    problem p = {.who = "tg_gradcheck", .n = n, .inputs = inputs, .constant = opts ? opts->constant_inputs : 0,
                 .eval = eval_first, .f = f, .user = user};
    return run_check(&p, opts, report);
}

tg_status tg_gradgradcheck(tg_fn f, void *user, int n, tg_tensor *const *inputs, const tg_gradcheck_opts *opts,
                           tg_gradcheck_report *report) {
    tg_gradcheck_report local;
    if (!report) report = &local;
    report_start(report);
    unsigned constant = opts ? opts->constant_inputs : 0;
    tg_status st = check_args("tg_gradgradcheck", f, n, MAX_IN - 1, inputs, constant);
    if (st) {
        snprintf(report->message, sizeof report->message, "%s", tg_last_error());
        return st;
    }
    /* v: a random grad_output of f's output shape, made on a tape of its own */
    tg_tape *holder = tg_tape_new();
    if (!holder) return tg_set_error(TG_ERR_NOMEM, "tg_gradgradcheck: out of memory");
    tg_tensor *all[MAX_IN] = {0};
    for (int i = 0; i < n && (all[i] = tg_detach(holder, inputs[i])); i++)
        if (!((constant >> i) & 1u)) tg_requires_grad(all[i]);
    tg_tensor *y = tg_tape_status(holder) ? NULL : f(holder, all, user);
    tg_rng rng = tg_rng_new((opts ? opts->seed : 0) ^ 0x5eedULL);
    tg_tensor *v = y ? tg_normal(holder, &rng, y->dtype, y->ndim, y->shape, 0.0, 1.0) : NULL;
    if (!v) {
        st = tg_tape_status(holder) ? tg_tape_status(holder) : TG_ERR_ARG;
        snprintf(report->message, sizeof report->message, "tg_gradgradcheck: f failed on the inputs: %s",
                 tg_tape_status(holder) ? tg_tape_error(holder) : "f returned NULL without an error on its tape");
        tg_tape_free(holder);
        return tg_set_error(st, "%s", report->message);
    }
    for (int i = 0; i < n; i++) all[i] = inputs[i];
    all[n] = v;
    problem p = {.who = "tg_gradgradcheck", .n = n + 1, .inputs = all, .constant = constant & ((1u << n) - 1),
                 .eval = eval_second, .f = f, .user = user, .second_order = true};
    int m = 0;
    for (int i = 0; i < n; i++)
        if (!((constant >> i) & 1u)) p.output_input[m++] = i;
    st = run_check(&p, opts, report);
    tg_tape_free(holder);
    return st;
}

/* ---- registry entries ---- */
static tg_tensor *apply_spec(tg_tape *t, tg_tensor **inputs, void *user) {
    const tg_op_spec *spec = user;
    return spec->apply(t, inputs);
}

tg_status tg_gradcheck_spec(const tg_op_spec *spec, tg_dtype dtype, const tg_gradcheck_opts *opts,
                            tg_spec_check *result) {
    if (!spec || !result) return tg_set_error(TG_ERR_ARG, "tg_gradcheck_spec: spec or result is NULL");
    memset(result, 0, sizeof *result);
    report_start(&result->first);
    report_start(&result->second);
    int n = spec->n_inputs;
    if (n < 1 || n > MAX_IN - 1)
        return tg_set_error(TG_ERR_ARG, "tg_gradcheck_spec: '%s' has %d inputs, 1 to %d allowed", spec->name, n,
                            MAX_IN - 1);
    tg_gradcheck_opts o = opts ? *opts : (tg_gradcheck_opts){0};
    o.constant_inputs = spec->constant_inputs;
    tg_tape *t = tg_tape_new();
    if (!t) return tg_set_error(TG_ERR_NOMEM, "tg_gradcheck_spec: out of memory");
    tg_rng rng = tg_rng_new(o.seed);
    tg_tensor *in[MAX_IN] = {0};
    tg_status st = spec->sample(t, &rng, dtype, in);
    for (int i = 0; i < n && !st; i++)
        if (!in[i]) st = tg_tape_status(t) ? tg_tape_status(t) : TG_ERR_ARG;
    if (st) {
        tg_set_error(st, "tg_gradcheck_spec: the sampler of '%s' failed: %s", spec->name,
                     tg_tape_status(t) ? tg_tape_error(t) : "an input is NULL");
        tg_tape_free(t);
        return st;
    }
    size_t pos = 0;
    for (int i = 0; i < n && pos < sizeof result->inputs; i++) {
        char desc[96];
        pos += (size_t)snprintf(result->inputs + pos, sizeof result->inputs - pos, "%s%s", i ? " " : "",
                                tg_tensor_desc(in[i], desc, sizeof desc));
    }
    void *user = (void *)spec;
    tg_status first = tg_gradcheck(apply_spec, user, n, in, &o, &result->first);
    tg_status second = tg_gradgradcheck(apply_spec, user, n, in, &o, &result->second);
    tg_tape_free(t);
    if (first && first != TG_ERR_CHECK) return first;
    if (second && second != TG_ERR_CHECK) return second;
    return first ? first : second;
}
