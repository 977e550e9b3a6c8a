/* Reduction passes and the row/column kernels several reductions share. */
#include "ops/reduce_pass.h"

#include <math.h>
#include <string.h>

#include "ops/vexp.h"

bool tg_reduce_run(tg_tape *t, const tg_tensor *x, const bool reduced[TG_MAX_DIMS], tg_tensor *y,
                   tg_reduce_pass_fn f32, tg_reduce_pass_fn f64) {
    size_t es = tg_dtype_size(x->dtype);
    int64_t passes[TG_MAX_DIMS][3];
    int n = tg_reduce_passes(x, reduced, passes);
    if (n == 0) {
        memcpy(y->data, x->data, (size_t)x->numel * es);
        return true;
    }
    const void *src = x->data;
    for (int p = 0; p < n; p++) {
        void *dst = p == n - 1 ? y->data : tg_tape_alloc(t, (size_t)(passes[p][0] * passes[p][2]) * es);
        if (!dst) return false;
        (x->dtype == TG_F32 ? f32 : f64)(src, dst, passes[p][0], passes[p][1], passes[p][2]);
        src = dst;
    }
    return true;
}

int64_t tg_reduced_count(const tg_tensor *x, const bool reduced[TG_MAX_DIMS]) {
    int64_t count = 1;
    for (int i = 0; i < x->ndim; i++)
        if (reduced[i]) count *= x->shape[i];
    return count;
}

/* L independent lanes (vectorized) of plain compare-and-keep, with a NaN flag
 * per lane on the side; the last block overlaps the one before it, which an
 * extremum does not notice. */
#define EXTREMUM_BLOCK(b, BETTER)                                                     \
    {                                                                                 \
        TG_PRAGMA(omp simd)                                                           \
        for (int k = 0; k < L; k++) {                                                 \
            acc[k] = BETTER((b)[k], acc[k]) ? (b)[k] : acc[k];                        \
            nan[k] |= (b)[k] != (b)[k];                                               \
        }                                                                             \
    }
#define ROW_EXTREMUM(NAME, T, BETTER)                                                  \
    T NAME(const T *x, int64_t n) {                                                   \
        enum { L = TG_EXTREMUM_LANES };                                               \
        if (n < L) { /* a NaN, once taken, is never replaced */                     \
            T m = x[0];                                                               \
            for (int64_t i = 1; i < n; i++)                                           \
                if (BETTER(x[i], m) || x[i] != x[i]) m = x[i];                        \
            return m;                                                                 \
        }                                                                             \
        T acc[L];                                                                     \
        int nan[L];                                                                   \
        for (int k = 0; k < L; k++) {                                                 \
            acc[k] = x[k];                                                            \
            nan[k] = x[k] != x[k];                                                    \
        }                                                                             \
        int64_t i = L;                                                                \
        for (; i + L <= n; i += L) EXTREMUM_BLOCK(x + i, BETTER)                      \
        if (i < n) EXTREMUM_BLOCK(x + n - L, BETTER)                                  \
        int any_nan = 0;                                                              \
        for (int k = 0; k < L; k++) any_nan |= nan[k];                                \
        if (any_nan) return (T)NAN;                                                   \
        for (int w = L / 2; w > 0; w /= 2) /* fold the lanes in halves */           \
            for (int k = 0; k < w; k++) acc[k] = BETTER(acc[k + w], acc[k]) ? acc[k + w] : acc[k]; \
        return acc[0];                                                                \
    }
#define GREATER(a, b) ((a) > (b))
#define LESS(a, b) ((a) < (b))
ROW_EXTREMUM(tg_row_max_f32, float, GREATER)
ROW_EXTREMUM(tg_row_max_f64, double, GREATER)
ROW_EXTREMUM(tg_row_min_f32, float, LESS)
ROW_EXTREMUM(tg_row_min_f64, double, LESS)

/* v replaces the running m when v is better or NaN (NaN then sticks: nothing
 * beats it), as bit selects so the column loops vectorize */
#define PICK_MAX(SEL, v, m) SEL((v > m) | (v != v), v, m)
#define PICK_MIN(SEL, v, m) SEL((v < m) | (v != v), v, m)

#define COLUMN_EXTREMUM(NAME, T, SEL, PICK)                                                   \
    void NAME(const T *x, int64_t R, int64_t stride, int64_t len, T *m) {                     \
        memcpy(m, x, sizeof(T) * (size_t)len);                                                \
        for (int64_t r = 1; r < R; r++) {                                                     \
            const T *row = x + r * stride;                                                    \
            for (int64_t k = 0; k < len; k++) m[k] = PICK(SEL, row[k], m[k]);                 \
        }                                                                                     \
    }
COLUMN_EXTREMUM(tg_column_max_f32, float, tg_select_f32, PICK_MAX)
COLUMN_EXTREMUM(tg_column_max_f64, double, tg_select_f64, PICK_MAX)
COLUMN_EXTREMUM(tg_column_min_f32, float, tg_select_f32, PICK_MIN)
COLUMN_EXTREMUM(tg_column_min_f64, double, tg_select_f64, PICK_MIN)

/* Body of a row sum of TERM (an expression of the element v): L lanes in
 * double, then the lanes in order, then the tail. */
#define SUM_LANES(T, TERM)                                                 \
    enum { L = TG_SUM_LANES };                                             \
    double acc[L] = {0};                                                   \
    int64_t i = 0;                                                         \
    for (; i + L <= n; i += L) {                                           \
        TG_PRAGMA(omp simd)                                                \
        for (int k = 0; k < L; k++) {                                      \
            T v = x[i + k];                                                \
            acc[k] += (double)(TERM);                                      \
        }                                                                  \
    }                                                                      \
    double s = 0;                                                          \
    for (int k = 0; k < L; k++) s += acc[k];                               \
    for (; i < n; i++) {                                                   \
        T v = x[i];                                                        \
        s += (double)(TERM);                                               \
    }                                                                      \
    return s;

void tg_row_sum_start(tg_row_sum_state *s) { memset(s, 0, sizeof *s); }

/* f32: each group is two blocks of L added in float first, halving the
 * conversions to double (one float rounding per pair, below the inputs' own
 * precision); f64: each group is one block of L. A group split between two
 * pieces waits in the carry. */
#define GROUP_F32(acc, a, b)                                                   \
    {                                                                          \
        TG_PRAGMA(omp simd)                                                    \
        for (int k = 0; k < TG_SUM_LANES; k++) (acc)[k] += (double)((a)[k] + (b)[k]); \
    }
#define GROUP_F64(acc, a, b)                                                   \
    {                                                                          \
        (void)(b);                                                             \
        TG_PRAGMA(omp simd)                                                    \
        for (int k = 0; k < TG_SUM_LANES; k++) (acc)[k] += (a)[k];             \
    }
#define ROW_SUM_FEED(NAME, T, G, GROUP)                                                        \
    void NAME(tg_row_sum_state *s, const T *x, int64_t n) {                                    \
        enum { L = TG_SUM_LANES };                                                             \
        int64_t i = 0;                                                                         \
        if (s->carried) {                                                                      \
            while (s->carried < (G) && i < n) s->carry[s->carried++] = x[i++];                 \
            if (s->carried < (G)) return;                                                      \
            T group[G];                                                                        \
            for (int k = 0; k < (G); k++) group[k] = (T)s->carry[k];                           \
            GROUP(s->acc, group, group + L)                                                    \
            s->carried = 0;                                                                    \
        }                                                                                      \
        for (; i + (G) <= n; i += (G)) GROUP(s->acc, x + i, x + i + L)                         \
        while (i < n) s->carry[s->carried++] = x[i++];                                         \
    }
ROW_SUM_FEED(tg_row_sum_feed_f32, float, 2 * TG_SUM_LANES, GROUP_F32)
ROW_SUM_FEED(tg_row_sum_feed_f64, double, TG_SUM_LANES, GROUP_F64)

double tg_row_sum_finish(const tg_row_sum_state *s) {
    double sum = 0;
    for (int k = 0; k < TG_SUM_LANES; k++) sum += s->acc[k];
    for (int k = 0; k < s->carried; k++) sum += s->carry[k];
    return sum;
}

double tg_row_sum_f32(const float *x, int64_t n) {
    tg_row_sum_state s;
    tg_row_sum_start(&s);
    tg_row_sum_feed_f32(&s, x, n);
    return tg_row_sum_finish(&s);
}
double tg_row_sum_f64(const double *x, int64_t n) {
    tg_row_sum_state s;
    tg_row_sum_start(&s);
    tg_row_sum_feed_f64(&s, x, n);
    return tg_row_sum_finish(&s);
}
double tg_row_sum_exp_f32(const float *x, int64_t n, float shift) { SUM_LANES(float, tg_vexp_f32(v - shift)) }
double tg_row_sum_exp_f64(const double *x, int64_t n, double shift) { SUM_LANES(double, tg_vexp_f64(v - shift)) }
