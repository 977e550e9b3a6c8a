/* Random-API property test: seeded random sequences of calls over every
 * public op (every registry entry, and each op called directly with random
 * attributes, convolutions and pooling among them), tensor creation, element access, scopes, the engine
 * (tg_backward, tg_grad, create_graph), the optimizers, mini-batches,
 * checkpoints (save, load, parse of mutated bytes), data sets and DOT, with random
 * dtypes, shapes (broadcasting, empty, invalid, overflowing), NULLs, tensors
 * of another tape and tensors from before a reset. Properties:
 *   - every failure comes with a non-zero status and a non-empty message
 *     (an op's also on its tape);
 *   - every result is well-formed: dtype, rank, shape, element count, on this
 *     tape in its current epoch, every element readable;
 *   - a failed load leaves the store unchanged; a saved store parses back;
 *   - no crash, and (sanitizer build) no memory error, no undefined
 *     behaviour, no leak.
 * The suite runs a short sequence; a long one by option:
 *   build/tests/test_random_api --calls 1000000 --seed 7
 * prints the calls per generator and the violations (0 to pass). */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

#include "testing.h"

enum { POOL = 48, STALE = 16, FOREIGN = 4, MAX_ARGS = 4 };

typedef struct world {
    tg_rng rng;
    tg_tape *t, *other;
    tg_params *p;
    tg_optim *opt;
    tg_tensor *pool[POOL];       /* live tensors of t */
    int n_pool;
    tg_tensor *stale[STALE];     /* tensors of t from before its last reset */
    int n_stale;
    tg_tensor *foreign[FOREIGN]; /* tensors of `other` (never reset) */
    uint64_t epoch_allocations;  /* t's system allocations when the epoch began */
    char dir[256], path[300];
    char call[256];              /* the call being checked, for messages */
    int scope_depth;             /* scopes pushed on t (kept shallow: composites push their own) */
    int64_t calls, failures, violations;
} world;

static void violation(world *w, const char *what) {
    w->violations++;
    if (w->violations <= 20) print_message("violation: %s\n    call: %s\n    last error: %s\n", what, w->call,
                                           tg_last_error());
}

/* ---- random values ---- */

static uint64_t below(world *w, uint64_t n) { return tg_rng_below(&w->rng, n); }
static bool chance(world *w, double p) { return tg_rng_uniform(&w->rng) < p; }
static tg_dtype random_dtype(world *w) { return chance(w, 0.5) ? TG_F32 : TG_F64; }

/* A shape: mostly small (broadcasting-friendly 1s, some 0s), sometimes
 * invalid: negative, overflowing, or too many dimensions. */
static int random_shape(world *w, int64_t shape[TG_MAX_DIMS + 1], bool allow_invalid) {
    int ndim = (int)below(w, 5);
    if (chance(w, 0.03)) ndim = 5 + (int)below(w, 4);
    for (int i = 0; i < ndim; i++) shape[i] = chance(w, 0.08) ? 0 : (int64_t)below(w, 5) + 1;
    if (chance(w, 0.005) && ndim > 0) shape[0] = TG_PARALLEL_MIN + 500; /* above the parallel threshold */
    if (allow_invalid && chance(w, 0.04)) {
        int kind = (int)below(w, 4);
        if (kind == 0) ndim = 9;
        if (ndim > 0 && kind == 1) shape[below(w, (uint64_t)ndim)] = -1 - (int64_t)below(w, 3);
        if (ndim > 0 && kind == 2) shape[below(w, (uint64_t)ndim)] = (int64_t)1 << (40 + below(w, 23));
        if (kind == 3) {
            ndim = 3;
            shape[0] = 0;
            shape[1] = shape[2] = (int64_t)1 << 62; /* empty, but rows overflow */
        }
    }
    if (ndim > TG_MAX_DIMS) ndim = TG_MAX_DIMS + 1; /* shape holds 9 */
    for (int i = 0; i < ndim; i++)
        if (i >= 5 && shape[i] > 2) shape[i] = 2; /* keep 8-d tensors small */
    return ndim;
}

/* ---- checking ---- */

static void begin(world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void begin(world *w, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vsnprintf(w->call, sizeof w->call, fmt, args);
    va_end(args);
    w->calls++;
    tg_set_error(TG_OK, "%s", ""); /* so a failure must leave its own message */
}

/* A failing call: a status and a message. */
static void failed(world *w) {
    w->failures++;
    if (tg_last_status() == TG_OK) violation(w, "a failure left tg_last_status() == TG_OK");
    if (tg_last_error()[0] == '\0') violation(w, "a failure left an empty message");
}

/* Every element readable (ASan checks the reads), fields consistent. */
static bool well_formed(world *w, const tg_tensor *y) {
    if (y->dtype != TG_F32 && y->dtype != TG_F64) return violation(w, "result has an unknown dtype"), false;
    if (y->ndim < 0 || y->ndim > TG_MAX_DIMS) return violation(w, "result has a bad rank"), false;
    int64_t numel;
    if (!tg_shape_product(y->ndim, y->shape, &numel) || numel != y->numel)
        return violation(w, "result's numel is not the product of its shape"), false;
    if (!y->data) return violation(w, "result has no data"), false;
    (void)tg_tensor_hash(y); /* reads every byte */
    return true;
}

/* After an op on t: NULL with a failure recorded on the tape, or a
 * well-formed current tensor of t (which joins the pool). */
static tg_tensor *check_op(world *w, tg_tensor *y) {
    if (!y) {
        failed(w);
        if (tg_tape_status(w->t) == TG_OK) violation(w, "an op returned NULL with no error on its tape");
        tg_tape_clear_error(w->t);
        return NULL;
    }
    /* sum_to and broadcast_to to x's own shape give x, which may be a parameter */
    bool stored = !y->tape && y->epoch == TG_EPOCH_STORED;
    if (!stored && (y->tape != w->t || y->epoch != tg_tape_epoch(w->t)))
        violation(w, "result is neither a current tensor of the tape nor a stored one");
    if (!well_formed(w, y)) return NULL;
    if (w->n_pool < POOL)
        w->pool[w->n_pool++] = y;
    else
        w->pool[below(w, POOL)] = y;
    return y;
}

static void check_status(world *w, tg_status st) {
    if (st) {
        failed(w);
        if (tg_last_status() != st) violation(w, "tg_last_status() differs from the returned status");
        tg_tape_clear_error(w->t);
    }
}

/* ---- arguments ---- */

/* A tensor argument: mostly live, sometimes a parameter, NULL, stale or foreign. */
static tg_tensor *arg(world *w) {
    double u = tg_rng_uniform(&w->rng);
    if (u < 0.04) return NULL;
    if (u < 0.08 && w->n_stale) return w->stale[below(w, (uint64_t)w->n_stale)];
    if (u < 0.11) return w->foreign[below(w, FOREIGN)];
    if (u < 0.20 && tg_params_count(w->p)) return tg_params_at(w->p, (int)below(w, (uint64_t)tg_params_count(w->p)));
    if (w->n_pool && u < 0.92) return w->pool[below(w, (uint64_t)w->n_pool)];
    int64_t shape[TG_MAX_DIMS + 1];
    int ndim = random_shape(w, shape, false);
    return tg_uniform(w->t, &w->rng, random_dtype(w), ndim, shape, -2, 2);
}

/* A live tensor only (for calls whose arguments are read before any check). */
static tg_tensor *live(world *w) {
    if (w->n_pool && chance(w, 0.9)) return w->pool[below(w, (uint64_t)w->n_pool)];
    int64_t shape[TG_MAX_DIMS + 1];
    int ndim = random_shape(w, shape, false);
    tg_tensor *x = tg_uniform(w->t, &w->rng, random_dtype(w), ndim, shape, -2, 2);
    return x ? x : tg_scalar(w->t, TG_F32, 1.0);
}

/* Whether x's fields may be read: a live tensor of t or a parameter (the
 * check reads nothing of a stale tensor in a sanitizer build). */
static bool readable(world *w, const tg_tensor *x) { return x && !tg_tape_check_tensor(w->t, x); }

static int random_axis(world *w, const tg_tensor *x) {
    int nd = readable(w, x) ? x->ndim : 3;
    return (int)below(w, (uint64_t)(2 * nd + 3)) - nd - 1; /* mostly in range, sometimes not */
}

/* ---- generators: one random call each ---- */

typedef tg_tensor *(*unary_fn)(tg_tape *, tg_tensor *);
typedef tg_tensor *(*binary_fn)(tg_tape *, tg_tensor *, tg_tensor *);

static tg_tensor *leaky(tg_tape *t, tg_tensor *x) { return tg_leaky_relu(t, x, 0.1); }
static tg_tensor *clamp(tg_tape *t, tg_tensor *x) { return tg_clamp(t, x, -0.5, 0.5); }
static tg_tensor *add_s(tg_tape *t, tg_tensor *x) { return tg_add_scalar(t, x, 1.5); }
static tg_tensor *mul_s(tg_tape *t, tg_tensor *x) { return tg_mul_scalar(t, x, -2.0); }
static tg_tensor *pow_s(tg_tape *t, tg_tensor *x) { return tg_pow_scalar(t, x, 3.0); }
static tg_tensor *gt_s(tg_tape *t, tg_tensor *x) { return tg_gt_scalar(t, x, 0.0); }
static tg_tensor *detach(tg_tape *t, tg_tensor *x) { return tg_detach(t, x); }

static const struct {
    const char *name;
    unary_fn fn;
} unary_ops[] = {{"neg", tg_neg},     {"abs", tg_abs},         {"sign", tg_sign},   {"exp", tg_exp},
                 {"log", tg_log},     {"sqrt", tg_sqrt},       {"rsqrt", tg_rsqrt}, {"square", tg_square},
                 {"sin", tg_sin},     {"cos", tg_cos},         {"tanh", tg_tanh},   {"sigmoid", tg_sigmoid},
                 {"relu", tg_relu},   {"leaky_relu", leaky},   {"gelu", tg_gelu},   {"softplus", tg_softplus},
                 {"clamp", clamp},    {"add_scalar", add_s},   {"mul_scalar", mul_s}, {"pow_scalar", pow_s},
                 {"gt_scalar", gt_s}, {"detach", detach}};

static const struct {
    const char *name;
    binary_fn fn;
} binary_ops[] = {{"add", tg_add},         {"sub", tg_sub}, {"mul", tg_mul},    {"div", tg_div},
                  {"pow", tg_pow},         {"maximum", tg_maximum}, {"minimum", tg_minimum},
                  {"gt", tg_gt},           {"ge", tg_ge},   {"eq", tg_eq},      {"matmul", tg_matmul},
                  {"mse", tg_mse},         {"bce_with_logits", tg_bce_with_logits}};

#define COUNT(a) (int)(sizeof(a) / sizeof((a)[0]))

static void gen_create(world *w) {
    int64_t shape[TG_MAX_DIMS + 1];
    int ndim = random_shape(w, shape, true);
    tg_dtype dt = chance(w, 0.02) ? (tg_dtype)7 : random_dtype(w);
    int kind = (int)below(w, 7);
    begin(w, "create kind %d, dtype %d, %d dims", kind, (int)dt, ndim);
    tg_tensor *y = NULL;
    switch (kind) {
    case 0: y = tg_zeros(w->t, dt, ndim, shape); break;
    case 1: y = tg_ones(w->t, dt, ndim, shape); break;
    case 2: y = tg_full(w->t, dt, ndim, shape, 0.25); break;
    case 3: y = tg_uniform(w->t, chance(w, 0.05) ? NULL : &w->rng, dt, ndim, shape, -3, 3); break;
    case 4: y = tg_normal(w->t, &w->rng, dt, ndim, shape, 0, 1); break;
    case 5: y = tg_scalar(w->t, dt, -1.5); break;
    case 6: {
        int64_t n;
        static double data[4096];
        if (tg_shape_product(ndim <= TG_MAX_DIMS ? ndim : 0, shape, &n) && n <= 512)
            y = tg_tensor_from(w->t, dt, ndim, shape, chance(w, 0.05) ? NULL : data);
        else
            y = tg_tensor_empty(w->t, dt, ndim, shape);
        break;
    }
    }
    tg_tensor *r = check_op(w, y);
    if (r && chance(w, 0.3)) {
        begin(w, "tg_requires_grad");
        check_status(w, tg_requires_grad(r));
    }
}

/* A registry entry on its sampled inputs, or on those with some replaced by
 * NULL, a tensor of the same rank and no larger along any axis (other sizes
 * or dtype, perhaps empty), a parameter or a tensor of another tape: never
 * larger, since an entry's fixed attributes (a permutation, an index of one
 * value per element) are sized for the sampled inputs. */
static void gen_registry(world *w) {
    const tg_op_spec *spec = tg_registry_at((int)below(w, (uint64_t)tg_registry_count()));
    tg_tensor *in[8] = {0};
    bool sampled = chance(w, 0.5);
    begin(w, "sampling for registry %s", spec->name);
    tg_status st = spec->sample(w->t, &w->rng, random_dtype(w), in);
    if (st) {
        check_status(w, st);
        return;
    }
    for (int i = 0; i < spec->n_inputs; i++) {
        if (chance(w, 0.2)) check_status(w, tg_requires_grad(in[i]));
        if (sampled || chance(w, 0.5)) continue;
        int rank = in[i]->ndim;
        double u = tg_rng_uniform(&w->rng);
        if (u < 0.15) {
            in[i] = NULL;
        } else if (u < 0.25 && rank >= 1) {
            in[i] = w->foreign[below(w, FOREIGN)];
        } else if (u < 0.35 && tg_params_count(w->p)) {
            tg_tensor *param = tg_params_at(w->p, (int)below(w, (uint64_t)tg_params_count(w->p)));
            bool fits = param->ndim == rank;
            for (int d = 0; fits && d < rank; d++) fits = param->shape[d] <= in[i]->shape[d];
            if (fits) in[i] = param;
        } else {
            int64_t shape[TG_MAX_DIMS];
            for (int d = 0; d < rank; d++)
                shape[d] = chance(w, 0.5) ? in[i]->shape[d] : (int64_t)below(w, (uint64_t)in[i]->shape[d] + 1);
            in[i] = tg_uniform(w->t, &w->rng, random_dtype(w), rank, shape, -2, 2);
        }
    }
    begin(w, "registry %s (%s inputs)", spec->name, sampled ? "sampled" : "changed");
    tg_tensor *y = check_op(w, spec->apply(w->t, in));
    if (sampled && !y) violation(w, "a registry entry failed on its own sampled inputs");
}

static void gen_unary(world *w) {
    int k = (int)below(w, COUNT(unary_ops));
    tg_tensor *x = arg(w);
    begin(w, "tg_%s", unary_ops[k].name);
    check_op(w, unary_ops[k].fn(w->t, x));
}

static void gen_binary(world *w) {
    int k = (int)below(w, COUNT(binary_ops));
    tg_tensor *a = arg(w), *b = arg(w);
    if (chance(w, 0.3) && readable(w, a)) { /* same shape or broadcastable */
        int64_t shape[TG_MAX_DIMS];
        int nd = a->ndim;
        for (int i = 0; i < nd; i++) shape[i] = chance(w, 0.3) ? 1 : a->shape[i];
        int drop = (int)below(w, (uint64_t)nd + 1);
        b = tg_uniform(w->t, &w->rng, a->dtype, nd - drop, shape + drop, -1, 1);
    }
    begin(w, "tg_%s", binary_ops[k].name);
    check_op(w, binary_ops[k].fn(w->t, a, b));
}

static void gen_reduce(world *w) {
    tg_tensor *x = arg(w);
    int axes[4];
    int n = (int)below(w, 4);
    for (int i = 0; i < n; i++) axes[i] = random_axis(w, x);
    if (chance(w, 0.05)) n = -1 - (int)below(w, 3);
    const int *ax = chance(w, 0.05) ? NULL : axes;
    bool keep = chance(w, 0.5);
    int k = (int)below(w, 7);
    begin(w, "reduction %d over %d axes", k, n);
    tg_tensor *y = NULL;
    switch (k) {
    case 0: y = tg_sum(w->t, x, ax, n, keep); break;
    case 1: y = tg_mean(w->t, x, ax, n, keep); break;
    case 2: y = tg_max(w->t, x, ax, n, keep); break;
    case 3: y = tg_min(w->t, x, ax, n, keep); break;
    case 4: y = tg_logsumexp(w->t, x, ax, n, keep); break;
    case 5: y = tg_var(w->t, x, ax, n, keep, chance(w, 0.5)); break;
    case 6: y = chance(w, 0.5) ? tg_softmax(w->t, x, random_axis(w, x)) : tg_log_softmax(w->t, x, random_axis(w, x));
    }
    check_op(w, y);
}

static void gen_shape(world *w) {
    tg_tensor *x = arg(w);
    bool current = readable(w, x);
    int64_t shape[TG_MAX_DIMS + 1];
    int ndim = random_shape(w, shape, true);
    int k = (int)below(w, 9);
    begin(w, "shape op %d, %d dims", k, ndim);
    tg_tensor *y = NULL;
    switch (k) {
    case 0: /* reshape: sometimes to a valid shape, with -1 */
        if (current && chance(w, 0.5) && x->numel > 0) {
            shape[0] = -1;
            shape[1] = x->numel % 2 == 0 ? 2 : 1;
            ndim = 2;
        }
        y = tg_reshape(w->t, x, ndim, chance(w, 0.03) ? NULL : shape);
        break;
    case 1: {
        int perm[TG_MAX_DIMS];
        for (int i = 0; i < TG_MAX_DIMS; i++) perm[i] = (int)below(w, 4);
        if (current && chance(w, 0.6)) /* a valid permutation: reversed axes */
            for (int i = 0; i < x->ndim; i++) perm[i] = x->ndim - 1 - i;
        y = tg_permute(w->t, x, chance(w, 0.03) ? NULL : perm);
        break;
    }
    case 2: y = tg_transpose(w->t, x, random_axis(w, x), random_axis(w, x)); break;
    case 3: y = tg_slice(w->t, x, random_axis(w, x), (int64_t)below(w, 9) - 4, (int64_t)below(w, 9) - 4); break;
    case 4:
        y = tg_pad(w->t, x, random_axis(w, x), chance(w, 0.02) ? INT64_MAX : (int64_t)below(w, 4) - 1,
                   (int64_t)below(w, 3));
        break;
    case 5: {
        tg_tensor *xs[4];
        int n = (int)below(w, 5);
        for (int i = 0; i < n; i++) xs[i] = chance(w, 0.7) && current ? x : arg(w);
        y = tg_concat(w->t, n, chance(w, 0.02) ? NULL : xs, random_axis(w, x));
        break;
    }
    case 6: y = tg_sum_to(w->t, x, ndim, shape); break;
    case 7: y = tg_broadcast_to(w->t, x, ndim, shape); break;
    case 8: y = tg_cast(w->t, x, chance(w, 0.03) ? (tg_dtype)5 : random_dtype(w)); break;
    }
    check_op(w, y);
}

static void gen_index(world *w) {
    tg_tensor *x = arg(w);
    bool current = readable(w, x);
    int axis = random_axis(w, x);
    int a = current && x->ndim ? ((axis % x->ndim) + x->ndim) % x->ndim : 0;
    int64_t D = current && x->ndim ? x->shape[a] : 3; /* the size along the axis */
    int64_t index[64];
    for (int i = 0; i < 64; i++) index[i] = chance(w, 0.03) ? -1 : (int64_t)below(w, (uint64_t)(D < 64 ? D : 64) + 1);
    const int64_t *idx = chance(w, 0.03) ? NULL : index;
    int64_t n = (int64_t)below(w, 8);
    int k = (int)below(w, 5);
    tg_tensor *y = NULL;
    switch (k) {
    case 0:
        begin(w, "tg_index_select, axis %d, %lld indices", axis, (long long)n);
        y = tg_index_select(w->t, x, axis, chance(w, 0.03) ? -1 : n, idx);
        break;
    case 1: /* x.shape[axis] indices (at most 64 are there) */
        if (chance(w, 0.7) && D <= 64) n = D;
        begin(w, "tg_index_add, axis %d, %lld indices", axis, (long long)n);
        y = tg_index_add(w->t, x, axis, (int64_t)below(w, 6) - 1, n, idx);
        break;
    case 2: { /* an index shaped at most like x: at most 64 values */
        int64_t shape[TG_MAX_DIMS];
        int nd = current ? x->ndim : 2;
        int64_t total = 1;
        for (int i = 0; i < nd; i++) {
            shape[i] = current ? (int64_t)below(w, (uint64_t)(x->shape[i] < 4 ? x->shape[i] : 4) + 1) : 1;
            total *= shape[i];
        }
        if (total > 64) return;
        begin(w, "tg_gather, axis %d", axis);
        y = tg_gather(w->t, x, axis, nd, shape, idx);
        break;
    }
    case 3: { /* a source of at most 64 values into an output at least as large */
        if (!current || x->numel > 64) return;
        int64_t out[TG_MAX_DIMS];
        for (int i = 0; i < x->ndim; i++) out[i] = x->shape[i] + (int64_t)below(w, 2);
        begin(w, "tg_scatter_add, axis %d", axis);
        y = tg_scatter_add(w->t, x, axis, chance(w, 0.03) ? NULL : out, idx);
        break;
    }
    case 4: { /* labels for N rows, at most 64 */
        int64_t labels[64];
        for (int i = 0; i < 64; i++) labels[i] = (int64_t)below(w, 6) - 1;
        int64_t N = current && x->ndim ? x->shape[0] : n;
        if (N > 64) return;
        begin(w, "tg_cross_entropy, %lld labels", (long long)N);
        y = tg_cross_entropy(w->t, x, chance(w, 0.1) ? n : N, chance(w, 0.03) ? NULL : labels);
        break;
    }
    }
    check_op(w, y);
}

static void gen_nn(world *w) {
    int k = (int)below(w, 6);
    begin(w, "nn op %d", k);
    tg_tensor *y = NULL;
    switch (k) {
    case 0: y = tg_linear(w->t, arg(w), arg(w), chance(w, 0.3) ? NULL : arg(w)); break;
    case 1: y = tg_where(w->t, arg(w), arg(w), arg(w)); break;
    case 2: y = tg_matmul_ex(w->t, arg(w), arg(w), chance(w, 0.5), chance(w, 0.5)); break;
    case 3: {
        tg_tensor *xs[3] = {arg(w), arg(w), arg(w)};
        y = tg_l2_penalty_of(w->t, (int)below(w, 4), xs, 0.01);
        break;
    }
    case 4: y = tg_l2_penalty(w->t, w->p, 0.1); break;
    case 5: { /* a batchnorm over a matching (or not) state of the store */
        tg_batchnorm_state bn;
        int64_t channels = (int64_t)below(w, 4) + 1;
        char name[32];
        snprintf(name, sizeof name, "bn%d", (int)below(w, 3));
        begin(w, "tg_batchnorm_init(%s, %lld channels)", name, (long long)channels);
        tg_status st = tg_batchnorm_init(&bn, w->p, name, TG_F64, channels);
        if (st) {
            check_status(w, st);
            return;
        }
        begin(w, "tg_batchnorm");
        y = tg_batchnorm(w->t, arg(w), &bn, chance(w, 0.5));
        break;
    }
    }
    check_op(w, y);
}

/* ---- convolutions, pooling, dropout ---- */

/* An image batch [N, C, H, W] of small sizes (some empty), or any argument. */
static tg_tensor *image(world *w, tg_dtype dt, int64_t channels) {
    if (chance(w, 0.15)) return arg(w);
    int64_t shape[4] = {chance(w, 0.08) ? 0 : (int64_t)below(w, 3) + 1, channels, (int64_t)below(w, 7),
                        (int64_t)below(w, 7)};
    return tg_uniform(w->t, &w->rng, dt, 4, shape, -2, 2);
}

/* A size option: mostly small, sometimes zero, negative or near INT64_MAX. */
static int64_t size_option(world *w, int64_t small) {
    double u = tg_rng_uniform(&w->rng);
    if (u < 0.04) return -1 - (int64_t)below(w, 3);
    if (u < 0.08) return INT64_MAX - (int64_t)below(w, 2);
    if (u < 0.11) return (int64_t)1 << (40 + below(w, 22));
    return (int64_t)below(w, (uint64_t)small + 1);
}

static void gen_conv(world *w) {
    int k = (int)below(w, 6);
    tg_dtype dt = random_dtype(w);
    int64_t groups = chance(w, 0.7) ? 1 : (int64_t)below(w, 4);
    int64_t cin = groups * ((int64_t)below(w, 3) + 1), cout = groups * ((int64_t)below(w, 3) + 1);
    tg_conv2d_opts o = {.stride = {size_option(w, 2), size_option(w, 2)},
                        .padding = {size_option(w, 2), size_option(w, 2)},
                        .dilation = {size_option(w, 2), size_option(w, 2)},
                        .groups = chance(w, 0.05) ? size_option(w, 4) : groups};
    tg_pool2d_opts po = {.kernel = {size_option(w, 3), size_option(w, 3)},
                         .stride = {size_option(w, 2), size_option(w, 2)},
                         .padding = {size_option(w, 1), size_option(w, 1)}};
    int64_t kh = size_option(w, 3), kw = size_option(w, 3);
    begin(w, "conv op %d (stride %lld,%lld pad %lld,%lld dil %lld,%lld groups %lld; kernel %lld,%lld)", k,
          (long long)o.stride[0], (long long)o.stride[1], (long long)o.padding[0], (long long)o.padding[1],
          (long long)o.dilation[0], (long long)o.dilation[1], (long long)o.groups, (long long)kh, (long long)kw);
    tg_tensor *y = NULL;
    switch (k) {
    case 0:
    case 1: { /* conv2d, conv_transpose2d: weights [C_out, C_in/G, kh, kw] / [C_in, C_out/G, kh, kw] */
        int64_t rows = k == 0 ? cout : cin, cols = (k == 0 ? cin : cout) / (groups ? groups : 1);
        int64_t kernel[2] = {kh >= 0 && kh < 4 ? kh : 3, kw >= 0 && kw < 4 ? kw : 1};
        tg_tensor *wt = chance(w, 0.9) ? tg_uniform(w->t, &w->rng, dt, 4, (int64_t[]){rows, cols, kernel[0], kernel[1]},
                                                    -1, 1)
                                       : arg(w);
        tg_tensor *b = chance(w, 0.5) ? NULL : chance(w, 0.9) ? tg_zeros(w->t, dt, 1, (int64_t[]){cout}) : arg(w);
        if (k == 1) o.output_padding[0] = size_option(w, 1), o.output_padding[1] = size_option(w, 1);
        y = (k == 0 ? tg_conv2d : tg_conv_transpose2d)(w->t, image(w, dt, cin), wt, b, o);
        break;
    }
    case 2: {
        tg_tensor *x = image(w, dt, cin);
        tg_tensor *g = image(w, dt, cout);
        y = tg_conv2d_weight_grad(w->t, x, g, kh, kw, o);
        break;
    }
    case 3: y = (chance(w, 0.5) ? tg_max_pool2d : tg_avg_pool2d)(w->t, image(w, dt, cin), po); break;
    case 4: y = chance(w, 0.5) ? tg_global_avg_pool2d(w->t, image(w, dt, cin)) : tg_flatten(w->t, arg(w)); break;
    case 5: {
        tg_rng rng = tg_rng_new(below(w, 1000));
        double p = chance(w, 0.9) ? tg_rng_uniform(&w->rng) : chance(w, 0.5) ? 1.0 : -0.5;
        y = tg_dropout(w->t, arg(w), p, chance(w, 0.8), chance(w, 0.95) ? &rng : NULL);
        break;
    }
    }
    check_op(w, y);
}

/* A custom op: elementwise square with its backward. */
static void square_forward(const tg_tensor *const *in, int n, tg_tensor *out, const void *attrs) {
    (void)n, (void)attrs;
    for (int64_t i = 0; i < out->numel; i++) tg_set(out, i, tg_get(in[0], i) * tg_get(in[0], i));
}
static tg_status square_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    gi[0] = tg_mul(t, g, tg_mul_scalar(t, node->inputs[0], 2.0));
    return tg_tape_status(t);
}
static const tg_custom_op custom_square = {.op = {"random_square", 1, square_backward}, .forward = square_forward};

static void gen_custom(world *w) {
    tg_tensor *in[2] = {arg(w), arg(w)};
    int n = (int)below(w, 3);
    begin(w, "tg_custom(random_square, %d inputs)", n);
    check_op(w, tg_custom(w->t, chance(w, 0.03) ? NULL : &custom_square, n, chance(w, 0.03) ? NULL : in, NULL, 0));
}

static void gen_access(world *w) {
    tg_tensor *x = chance(w, 0.1) ? NULL : live(w);
    int64_t i = (int64_t)below(w, 40) - 5;
    begin(w, "tg_get / tg_set index %lld", (long long)i);
    bool inside = x && i >= 0 && i < x->numel;
    double v = tg_get(x, i);
    if (!inside) {
        failed(w);
        if (!isnan(v)) violation(w, "tg_get out of range did not give NaN");
    }
    begin(w, "tg_set index %lld", (long long)i);
    tg_set(x, i, 0.5);
    if (!inside) failed(w);
}

static void gen_scope(world *w) {
    int k = (int)below(w, 4);
    begin(w, "scope/no-grad %d", k);
    if (k == 0 && w->scope_depth < 8) {
        tg_status st = tg_tape_push_scope(w->t, chance(w, 0.05) ? "" : "block");
        check_status(w, st);
        w->scope_depth += st == TG_OK;
    }
    if (k == 1) {
        tg_status st = tg_tape_pop_scope(w->t);
        check_status(w, st);
        w->scope_depth -= st == TG_OK;
    }
    if (k == 2) tg_tape_set_grad_enabled(w->t, chance(w, 0.7));
    if (k == 3) {
        char name[16];
        snprintf(name, sizeof name, "x%d", (int)below(w, 100));
        check_status(w, tg_tensor_set_name(chance(w, 0.05) ? NULL : live(w), name));
    }
}

static void check_grads(world *w) {
    for (int i = 0; i < tg_params_count(w->p); i++) {
        const tg_tensor *x = tg_params_at(w->p, i);
        if (x->grad && (!tg_same_shape(x, x->grad) || x->grad->dtype != x->dtype))
            violation(w, "a parameter's gradient has another shape or dtype");
        if (x->grad) (void)tg_tensor_hash(x->grad);
    }
}

static void gen_backward(world *w) {
    tg_tensor *root = chance(w, 0.85) && w->n_pool ? w->pool[below(w, (uint64_t)w->n_pool)] : arg(w);
    bool current = readable(w, root);
    if (current && root->numel != 1 && chance(w, 0.7)) { /* reduce to a scalar first */
        begin(w, "tg_sum for backward");
        root = check_op(w, tg_sum(w->t, root, NULL, 0, false));
        if (!root) return;
    }
    tg_backward_opts opts = {.retain_graph = chance(w, 0.3), .create_graph = chance(w, 0.2)};
    if (chance(w, 0.2)) opts.grad_output = current && chance(w, 0.7) ? tg_ones(w->t, root->dtype, root->ndim, root->shape)
                                                                      : arg(w);
    if (chance(w, 0.5)) {
        begin(w, "tg_backward (retain %d, create_graph %d)", opts.retain_graph, opts.create_graph);
        check_status(w, tg_backward(w->t, root, &opts));
    } else {
        tg_tensor *inputs[2] = {arg(w), chance(w, 0.5) ? arg(w) : live(w)}, *grads[2];
        tg_grad_opts g = {.retain_graph = opts.retain_graph, .create_graph = opts.create_graph,
                          .allow_unused = chance(w, 0.5), .materialize_grads = chance(w, 0.3)};
        int n_in = 1 + (int)below(w, 2);
        begin(w, "tg_grad (%d inputs)", n_in);
        tg_status st = tg_grad(w->t, 1, &root, opts.grad_output ? &opts.grad_output : NULL, n_in, inputs, grads, &g);
        check_status(w, st);
        for (int i = 0; !st && i < n_in; i++)
            if (grads[i]) {
                if (!tg_same_shape(grads[i], inputs[i])) violation(w, "tg_grad's gradient has another shape");
                check_op(w, grads[i]);
            }
    }
    check_grads(w);
}

static void gen_optim(world *w) {
    int k = (int)below(w, 4);
    begin(w, "optimizer %d", k);
    if (k == 0 || !w->opt) {
        tg_optim_free(w->opt);
        double values[] = {0.01, 0.9, 0, -1, NAN, 1e300};
        if (chance(w, 0.5)) {
            tg_sgd_opts o = {.lr = values[below(w, 6)], .momentum = values[below(w, 6)],
                             .dampening = values[below(w, 3)], .weight_decay = values[below(w, 4)],
                             .nesterov = chance(w, 0.3)};
            w->opt = tg_sgd_new(chance(w, 0.03) ? NULL : w->p, o);
        } else {
            tg_adam_opts o = tg_adam_defaults();
            if (chance(w, 0.3)) o.beta1 = values[below(w, 6)];
            if (chance(w, 0.3)) o.lr = values[below(w, 6)];
            o.decoupled_weight_decay = chance(w, 0.5);
            w->opt = tg_adam_new(w->p, o);
        }
        if (!w->opt) failed(w);
        return;
    }
    if (k == 1) check_status(w, tg_optim_step(w->opt));
    if (k == 2) check_status(w, tg_optim_set_lr(w->opt, chance(w, 0.1) ? -1.0 : 0.01));
    if (k == 3) {
        double norm;
        check_status(w, tg_clip_grad_norm(w->p, chance(w, 0.1) ? 0.0 : 1.0, &norm));
        tg_zero_grad(w->p);
    }
    check_grads(w);
}

static void gen_batches(world *w) {
    int64_t sizes[] = {-1, 0, 1, 7, 100, (int64_t)1 << 40, (int64_t)1 << 62, INT64_MAX};
    int64_t n = sizes[below(w, 8)], b = sizes[below(w, 8)];
    begin(w, "tg_batches_new(%lld, %lld)", (long long)n, (long long)b);
    tg_batches *batches = tg_batches_new(n, b, chance(w, 0.5), chance(w, 0.5) ? &w->rng : NULL);
    if (!batches) {
        failed(w);
        return;
    }
    const int64_t *idx;
    int64_t count, seen = 0;
    while (tg_batches_next(batches, &idx, &count)) {
        for (int64_t i = 0; i < count; i++)
            if (idx[i] < 0 || idx[i] >= n) violation(w, "a batch index is out of range");
        seen += count;
    }
    if (seen > n) violation(w, "an epoch dealt more samples than there are");
    tg_batches_free(batches);
}

/* Data sets: built-in ones of random sizes, split, standardised, gathered
 * with random indices onto the tape. */
static void gen_dataset(world *w) {
    static const char *names[] = {"spiral", "blobs", "circles", "poly", "bars", "no such set"};
    static const int64_t sizes[] = {-1, 0, 1, 2, 7, 50};
    static const double fractions[] = {-0.1, 0, 0.2, 0.5, 1, NAN};
    begin(w, "tg_dataset_synthetic");
    tg_dataset *ds = tg_dataset_synthetic(names[below(w, 6)], sizes[below(w, 6)], below(w, 100));
    if (!ds) {
        failed(w);
        return;
    }
    tg_dataset *train = NULL, *valid = NULL, *pick = ds;
    begin(w, "tg_dataset_split");
    tg_status st = tg_dataset_split(ds, fractions[below(w, 6)], below(w, 100), &train, &valid);
    check_status(w, st);
    if (!st && (!train || !valid || tg_dataset_len(train) + tg_dataset_len(valid) != tg_dataset_len(ds)))
        violation(w, "a split lost samples");
    if (!st) pick = chance(w, 0.5) ? train : valid;
    if (chance(w, 0.3)) {
        begin(w, "tg_dataset_standardize");
        check_status(w, tg_dataset_standardize(pick));
    }
    int64_t n = tg_dataset_len(pick), idx[8];
    int64_t count = (int64_t)below(w, 9) - 1;
    for (int i = 0; i < 8; i++) idx[i] = (int64_t)below(w, (uint64_t)n + 2) - 1; /* -1 .. n */
    tg_batch b;
    begin(w, "tg_dataset_gather(%lld samples)", (long long)count);
    st = tg_dataset_gather(w->t, pick, random_dtype(w), count, chance(w, 0.3) ? NULL : idx, &b);
    check_status(w, st);
    if (!st) {
        check_op(w, b.x);
        for (int64_t i = 0; b.labels && i < b.count; i++)
            if (b.labels[i] < 0 || b.labels[i] >= tg_dataset_classes(pick)) violation(w, "a gathered label is out of range");
        if (b.targets) check_op(w, b.targets);
    }
    tg_dataset_free(train);
    tg_dataset_free(valid);
    tg_dataset_free(ds);
}

static uint64_t fingerprint(const tg_params *p) {
    uint64_t h = (uint64_t)tg_params_count(p);
    for (int i = 0; i < tg_params_count(p); i++)
        h = h * 1099511628211ull + tg_tensor_hash(tg_params_at(p, i)) + tg_params_at(p, i)->version;
    return h;
}

static void gen_checkpoint(world *w) {
    int k = (int)below(w, 4);
    begin(w, "checkpoint %d", k);
    if (k == 0) { /* the file system: rare, a save syncs the disk */
        if (!chance(w, 0.1)) return;
        check_status(w, tg_params_save(chance(w, 0.03) ? NULL : w->p, w->path));
        uint64_t before = fingerprint(w->p);
        begin(w, "tg_params_load");
        tg_status st = tg_params_load_ex(w->p, w->path, chance(w, 0.7), NULL);
        check_status(w, st);
        if (st && fingerprint(w->p) != before) violation(w, "a failed load changed the store");
        return;
    }
    /* in memory: the store's bytes, perhaps mutated, parsed and loaded */
    tg_checkpoint *c = tg_checkpoint_new();
    void *bytes = NULL;
    size_t size = 0;
    if (!c || tg_checkpoint_add_params(c, w->p) || tg_checkpoint_to_bytes(c, &bytes, &size)) {
        violation(w, "the store could not be turned into bytes");
        tg_checkpoint_free(c);
        return;
    }
    tg_checkpoint_free(c);
    if (k >= 2 && size) { /* flip a byte, cut the end */
        ((unsigned char *)bytes)[below(w, size)] ^= (unsigned char)(1u << below(w, 8));
        if (chance(w, 0.3)) size = (size_t)below(w, size);
    }
    begin(w, "tg_checkpoint_parse (%s)", k >= 2 ? "mutated" : "as saved");
    tg_checkpoint *r = tg_checkpoint_parse(bytes, size, "random bytes");
    if (!r) {
        failed(w);
        if (k < 2) violation(w, "a store's own bytes did not parse");
    } else {
        uint64_t before = fingerprint(w->p);
        begin(w, "tg_params_load_checkpoint");
        tg_status st = tg_params_load_checkpoint(w->p, r, chance(w, 0.5), NULL);
        check_status(w, st);
        if (st && fingerprint(w->p) != before) violation(w, "a failed load changed the store");
        if (st && k < 2) violation(w, "a store's own checkpoint did not load into it");
        tg_checkpoint_free(r);
    }
    free(bytes);
}

static void gen_dot(world *w) {
    static FILE *sink;
    if (!sink) sink = fopen("/dev/null", "w");
    tg_tensor *root = chance(w, 0.3) ? NULL : arg(w);
    begin(w, "tg_dot_write");
    check_status(w, tg_dot_write(w->t, root, sink, &(tg_dot_opts){.show_grads = chance(w, 0.5),
                                                                   .collapse_scopes = chance(w, 0.3)}));
}

static void gen_params(world *w) {
    int64_t shape[TG_MAX_DIMS + 1];
    int ndim = random_shape(w, shape, true);
    char name[16];
    snprintf(name, sizeof name, "p%d", (int)below(w, 6));
    tg_init init = (tg_init)below(w, 7);
    begin(w, "tg_param(%s, %d dims, init %d)", name, ndim, (int)init);
    tg_tensor *x = chance(w, 0.8) ? tg_param(w->p, name, random_dtype(w), ndim, shape, init, &w->rng)
                                  : tg_buffer(w->p, name, random_dtype(w), ndim, shape, init, NULL);
    if (!x) failed(w);
}

/* Reset: the pool becomes stale. In a Release build a stale tensor is only
 * safe to pass while its memory is still the tape's: when this epoch grew the
 * arena, the reset gives chunks back, so those tensors are dropped. */
static void gen_reset(world *w) {
    begin(w, "tg_tape_reset");
    bool grew = tg_tape_system_allocations(w->t) != w->epoch_allocations;
    tg_tape_reset(w->t);
    w->n_stale = 0;
    if (!grew)
        for (int i = 0; i < w->n_pool && w->n_stale < STALE; i++)
            if (chance(w, 0.5)) w->stale[w->n_stale++] = w->pool[i];
    w->n_pool = 0;
    w->scope_depth = 0;
    w->epoch_allocations = tg_tape_system_allocations(w->t);
}

typedef struct {
    const char *name;
    void (*run)(world *);
    int weight;
    int64_t calls;
} generator;

static generator generators[] = {
    {"create", gen_create, 10},   {"registry", gen_registry, 12}, {"unary", gen_unary, 10},
    {"binary", gen_binary, 10},   {"reduce", gen_reduce, 6},      {"shape", gen_shape, 8},
    {"index", gen_index, 5},      {"nn", gen_nn, 4},              {"custom", gen_custom, 2},
    {"access", gen_access, 3},    {"scope", gen_scope, 2},        {"backward", gen_backward, 6},
    {"optim", gen_optim, 3},      {"batches", gen_batches, 1},    {"checkpoint", gen_checkpoint, 2},
    {"dot", gen_dot, 1},          {"params", gen_params, 2},      {"reset", gen_reset, 2},
    {"dataset", gen_dataset, 2},  {"conv", gen_conv, 4},
};

/* Runs `calls` random calls from `seed`; returns the violations. */
static int64_t run(uint64_t seed, int64_t calls, bool report) {
    world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->rng = tg_rng_new(seed);
    w->t = tg_tape_new();
    w->other = tg_tape_new();
    w->p = tg_params_new();
    assert_true(w->t && w->other && w->p);
    for (int i = 0; i < FOREIGN; i++) w->foreign[i] = tg_ones(w->other, random_dtype(w), 1, (int64_t[]){3});
    assert_non_null(tg_param(w->p, "w", TG_F32, 2, (int64_t[]){3, 3}, TG_INIT_KAIMING_UNIFORM, &w->rng));
    assert_non_null(tg_param(w->p, "v", TG_F64, 1, (int64_t[]){3}, TG_INIT_NORMAL, &w->rng));
    const char *tmp = getenv("TMPDIR");
    snprintf(w->dir, sizeof w->dir, "%s/tapegrad-random-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(w->dir));
    snprintf(w->path, sizeof w->path, "%s/store.tg", w->dir);
    w->epoch_allocations = tg_tape_system_allocations(w->t);

    int total_weight = 0;
    for (int g = 0; g < COUNT(generators); g++) {
        total_weight += generators[g].weight;
        generators[g].calls = 0;
    }
    while (w->calls < calls) {
        int pick = (int)below(w, (uint64_t)total_weight), g = 0;
        while (pick >= generators[g].weight) pick -= generators[g++].weight;
        generators[g].calls++;
        generators[g].run(w);
        if (tg_tape_arena_used(w->t) > ((size_t)64 << 20)) gen_reset(w); /* bound the memory */
    }
    if (report) {
        print_message("random API: seed %" PRIu64 ", %" PRId64 " calls, %" PRId64 " failures (each with a status and a "
                      "message), %" PRId64 " violations\n",
                      seed, w->calls, w->failures, w->violations);
        for (int g = 0; g < COUNT(generators); g++)
            print_message("  %-12s %10" PRId64 " generator runs\n", generators[g].name, generators[g].calls);
    }
    int64_t violations = w->violations;
    unlink(w->path);
    rmdir(w->dir);
    tg_optim_free(w->opt);
    tg_params_free(w->p);
    tg_tape_free(w->other);
    tg_tape_free(w->t);
    free(w);
    return violations;
}

static int64_t option_calls = 20000;
static uint64_t option_seed = 1;

static void test_random_calls_fail_with_messages_and_give_well_formed_results(void **state) {
    (void)state;
    assert_int_equal(run(option_seed, option_calls, true), 0);
}

/* A second seed, so the suite covers two different sequences. */
static void test_another_seed_holds_the_same_properties(void **state) {
    (void)state;
    assert_int_equal(run(option_seed + 1000003, option_calls / 2, false), 0);
}

int main(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--calls") == 0) option_calls = strtoll(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--seed") == 0) option_seed = strtoull(argv[i + 1], NULL, 10);
        else {
            fprintf(stderr, "usage: test_random_api [--calls N] [--seed S]\n");
            return 2;
        }
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_calls_fail_with_messages_and_give_well_formed_results),
        cmocka_unit_test(test_another_seed_holds_the_same_properties),
    };
    return cmocka_run_group_tests_name("random api", tests, NULL, NULL);
}
