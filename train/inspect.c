/* Inside a model during training (see inspect.h). */
#include "train/inspect.h"

#include <math.h>
#include <string.h>

/* "layer3" contains "layer3" and "layer3/..." */
static bool in_scope(const char *node_scope, const char *scope, size_t n) {
    return node_scope && strncmp(node_scope, scope, n) == 0 && (node_scope[n] == '\0' || node_scope[n] == '/');
}

const tg_tensor *tg_scope_output(const tg_tape *t, const char *scope) {
    if (!t || !scope || !*scope) {
        tg_set_error(TG_ERR_ARG, "tg_scope_output: tape or scope is NULL or empty");
        return NULL;
    }
    size_t n = strlen(scope);
    for (int64_t i = tg_tape_node_count(t) - 1; i >= 0; i--) {
        const tg_node *node = tg_tape_node(t, i);
        if (!node->in_backward && in_scope(node->scope, scope, n)) return node->output;
    }
    tg_set_error(TG_ERR_ARG, "tg_scope_output: no operation was recorded in scope '%s'", scope);
    return NULL;
}

/* element i of a tensor already checked (f32 or f64, data present) */
static inline double value_at(const tg_tensor *x, int64_t i) {
    return x->dtype == TG_F32 ? (double)((const float *)x->data)[i] : ((const double *)x->data)[i];
}

tg_status tg_tensor_stats(const tg_tensor *x, tg_value_stats *out) {
    if (!x || !out) return tg_set_error(TG_ERR_ARG, "tg_tensor_stats: tensor or result is NULL");
    *out = (tg_value_stats){.n = x->numel, .mean = NAN, .std = NAN, .min = NAN, .max = NAN};
    if (x->numel == 0) return TG_OK;
    /* two passes: the mean, then squared deviations from it (no cancellation) */
    double sum = 0, lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < x->numel; i++) {
        double v = value_at(x, i);
        sum += v;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    double mean = sum / (double)x->numel, squares = 0;
    for (int64_t i = 0; i < x->numel; i++) {
        double d = value_at(x, i) - mean;
        squares += d * d;
    }
    out->mean = mean;
    out->std = sqrt(squares / (double)x->numel);
    out->min = lo;
    out->max = hi;
    return TG_OK;
}

tg_status tg_unit_stats(const tg_tensor *x, double *mean, double *std) {
    if (!x || !mean || !std) return tg_set_error(TG_ERR_ARG, "tg_unit_stats: tensor or result is NULL");
    if (x->ndim < 2 || x->shape[0] < 1) {
        char desc[64];
        return tg_set_error(TG_ERR_SHAPE, "tg_unit_stats: %s: expected [N, units] with N >= 1",
                            tg_tensor_desc(x, desc, sizeof desc));
    }
    int64_t n = x->shape[0], units = x->numel / n;
    /* row by row, as the values lie: the means, then the squared deviations from them */
    for (int64_t u = 0; u < units; u++) mean[u] = std[u] = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t u = 0; u < units; u++) mean[u] += value_at(x, i * units + u);
    for (int64_t u = 0; u < units; u++) mean[u] /= (double)n;
    for (int64_t i = 0; i < n; i++)
        for (int64_t u = 0; u < units; u++) {
            double d = value_at(x, i * units + u) - mean[u];
            std[u] += d * d;
        }
    for (int64_t u = 0; u < units; u++) std[u] = sqrt(std[u] / (double)n);
    return TG_OK;
}

double tg_params_grad_norm(const tg_params *p, const char *prefix) {
    size_t n = prefix ? strlen(prefix) : 0;
    double squares = 0;
    for (int i = 0; i < tg_params_count(p); i++) {
        const tg_tensor *w = tg_params_at(p, i);
        if (w->kind != TG_KIND_PARAM || !w->grad || (n && (!w->name || strncmp(w->name, prefix, n) != 0))) continue;
        for (int64_t k = 0; k < w->grad->numel; k++) {
            double g = value_at(w->grad, k);
            squares += g * g;
        }
    }
    return sqrt(squares);
}
