/* Dropout: the mask is a hash of (key, element index), recomputed by backward. */
#include "ops/dropout.h"

#include <math.h>
#include <omp.h>

#include "ops/describe.h"
#include "ops/kernel.h"
#include "ops/registry.h"

typedef struct {
    double p;           /* drop probability */
    uint64_t key;       /* drawn from the caller's rng */
    uint64_t threshold; /* element i is kept when hash(key, i) >= threshold = p 2^64 */
} dropout_attrs;

/* SplitMix64's output function of key + (i + 1) golden: element i's 64 random bits */
static inline uint64_t element_bits(uint64_t key, int64_t i) {
    uint64_t z = key + ((uint64_t)i + 1) * 0x9E3779B97F4A7C15u;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* y[i] = keep(i) ? x[i] scale : 0 for i in [lo, hi) */
#define DROPOUT_RANGE(NAME, T)                                                                              \
    static void NAME(const dropout_attrs *at, const T *restrict x, T *restrict y, int64_t lo, int64_t hi) { \
        T scale = (T)(1.0 / (1.0 - at->p));                                                                 \
        for (int64_t i = lo; i < hi; i++) y[i] = element_bits(at->key, i) >= at->threshold ? x[i] * scale : 0; \
    }
DROPOUT_RANGE(dropout_range_f32, float)
DROPOUT_RANGE(dropout_range_f64, double)

static void dropout_kernel(const dropout_attrs *at, const tg_tensor *x, tg_tensor *y) {
    int64_t n = x->numel;
    if (!TG_PARALLEL_WORTH(n)) {
        if (x->dtype == TG_F32)
            dropout_range_f32(at, x->data, y->data, 0, n);
        else
            dropout_range_f64(at, x->data, y->data, 0, n);
        return;
    }
#pragma omp parallel
    {
        int64_t id = omp_get_thread_num(), k = omp_get_num_threads();
        if (x->dtype == TG_F32)
            dropout_range_f32(at, x->data, y->data, n * id / k, n * (id + 1) / k);
        else
            dropout_range_f64(at, x->data, y->data, n * id / k, n * (id + 1) / k);
    }
}

static tg_tensor *apply_mask(tg_tape *t, tg_tensor *x, const dropout_attrs *at);

/* the same mask and scale on g (the op is diagonal: its own adjoint) */
static tg_status dropout_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    gi[0] = apply_mask(t, g, node->attrs);
    return tg_tape_status(t);
}
/* "p=0.5" (the key changes every step: not shown, so the graph's ids stay put) */
static int dropout_describe(const tg_node *node, char *buf, size_t size) {
    tg_text s = tg_text_on(buf, size);
    tg_text_printf(&s, "p=");
    tg_text_number(&s, ((const dropout_attrs *)node->attrs)->p);
    return tg_text_length(&s);
}
static const tg_op dropout_op = {"dropout", 1, dropout_backward, dropout_describe};

static tg_tensor *apply_mask(tg_tape *t, tg_tensor *x, const dropout_attrs *at) {
    if (!tg_check_inputs(t, "tg_dropout", 1, &x)) return NULL;
    tg_tensor *y = tg_tape_result(t, x->dtype, x->ndim, x->shape);
    if (!y) return NULL;
    dropout_kernel(at, x, y);
    return tg_tape_record(t, &dropout_op, 1, &x, y, at, sizeof *at);
}

tg_tensor *tg_dropout(tg_tape *t, tg_tensor *x, double p, bool training, tg_rng *rng) {
    if (!tg_check_inputs(t, "tg_dropout", 1, &x)) return NULL;
    if (!(p >= 0 && p < 1)) {
        tg_tape_fail(t, TG_ERR_ARG, "tg_dropout: p = %g is outside [0, 1) (x %s)", p, TG_DESC(x));
        return NULL;
    }
    if (!training || p == 0) return x;
    if (!rng) {
        tg_tape_fail(t, TG_ERR_ARG, "tg_dropout: training needs a tg_rng for the mask, got NULL (x %s)", TG_DESC(x));
        return NULL;
    }
    dropout_attrs at = {p, tg_rng_next(rng), (uint64_t)ldexp(p, 64)};
    return apply_mask(t, x, &at);
}

/* ---- registry entry: a fixed seed, so every evaluation draws the same mask ---- */
static tg_status sample_dropout(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(4, 6), 0.1, 2.0);
    return tg_tape_status(t);
}
static tg_tensor *apply_dropout(tg_tape *t, tg_tensor **in) {
    tg_rng rng = tg_rng_new(11);
    return tg_dropout(t, in[0], 0.4, true, &rng);
}
const tg_op_spec tg_spec_dropout = {"dropout(p=0.4)", "tg_dropout", 1, sample_dropout, apply_dropout};
