/* Confusion matrices, run history and the CSV log. */
#include "train/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

tg_status tg_confusion_init(tg_confusion *c, int64_t classes) {
    *c = (tg_confusion){0};
    if (classes < 1 || classes > 100000)
        return tg_set_error(TG_ERR_ARG, "tg_confusion_init: %lld classes", (long long)classes);
    c->counts = calloc((size_t)(classes * classes), sizeof *c->counts);
    if (!c->counts) return tg_set_error(TG_ERR_NOMEM, "tg_confusion_init: out of memory");
    c->classes = classes;
    return TG_OK;
}

void tg_confusion_free(tg_confusion *c) {
    if (!c) return;
    free(c->counts);
    *c = (tg_confusion){0};
}

void tg_confusion_clear(tg_confusion *c) {
    if (c && c->counts) memset(c->counts, 0, sizeof *c->counts * (size_t)(c->classes * c->classes));
}

#define ADD_ROWS(T)                                                                                \
    for (int64_t i = 0; i < n; i++) {                                                              \
        const T *row = (const T *)logits->data + i * k;                                            \
        int64_t best = 0;                                                                          \
        for (int64_t j = 1; j < k; j++)                                                            \
            if (row[j] > row[best]) best = j;                                                      \
        c->counts[labels[i] * k + best]++;                                                         \
    }

tg_status tg_confusion_add(tg_confusion *c, const tg_tensor *logits, const int64_t *labels) {
    if (!c || !c->counts || !logits || !labels) return tg_set_error(TG_ERR_ARG, "tg_confusion_add: NULL argument");
    int64_t k = c->classes;
    if (logits->ndim != 2 || logits->shape[1] != k) {
        char desc[96];
        return tg_set_error(TG_ERR_SHAPE, "tg_confusion_add: logits %s, expected [N,%lld]",
                            tg_tensor_desc(logits, desc, sizeof desc), (long long)k);
    }
    int64_t n = logits->shape[0];
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= k)
            return tg_set_error(TG_ERR_ARG, "tg_confusion_add: label %lld of row %lld is outside [0, %lld)",
                                (long long)labels[i], (long long)i, (long long)k);
    if (logits->dtype == TG_F32) {
        ADD_ROWS(float)
    } else {
        ADD_ROWS(double)
    }
    return TG_OK;
}

int64_t tg_confusion_total(const tg_confusion *c) {
    int64_t total = 0;
    for (int64_t i = 0; c && i < c->classes * c->classes; i++) total += c->counts[i];
    return total;
}

double tg_confusion_accuracy(const tg_confusion *c) {
    int64_t total = tg_confusion_total(c), right = 0;
    if (total == 0) return NAN;
    for (int64_t k = 0; k < c->classes; k++) right += c->counts[k * c->classes + k];
    return (double)right / (double)total;
}

double tg_confusion_class_accuracy(const tg_confusion *c, int64_t k) {
    if (!c || k < 0 || k >= c->classes) return NAN;
    int64_t total = 0;
    for (int64_t j = 0; j < c->classes; j++) total += c->counts[k * c->classes + j];
    return total ? (double)c->counts[k * c->classes + k] / (double)total : NAN;
}

void tg_confusion_print(FILE *out, const tg_confusion *c, const char *(*class_name)(const void *, int64_t),
                        const void *names) {
    int64_t k = c->classes;
    int width = 6;
    for (int64_t j = 0; j < k; j++) {
        int64_t column_max = 0;
        for (int64_t i = 0; i < k; i++)
            if (c->counts[i * k + j] > column_max) column_max = c->counts[i * k + j];
        int digits = snprintf(NULL, 0, "%lld", (long long)column_max) + 1;
        if (digits > width) width = digits;
    }
    fprintf(out, "%-14s", "true \\ pred");
    for (int64_t j = 0; j < k; j++) fprintf(out, "%*lld", width, (long long)j);
    fprintf(out, "   accuracy\n");
    for (int64_t i = 0; i < k; i++) {
        const char *name = class_name ? class_name(names, i) : NULL;
        char label[32];
        char index[24];
        snprintf(index, sizeof index, "%lld", (long long)i);
        if (name && strcmp(name, index) != 0)
            snprintf(label, sizeof label, "%lld %.11s", (long long)i, name);
        else
            snprintf(label, sizeof label, "%lld", (long long)i);
        fprintf(out, "%-14s", label);
        for (int64_t j = 0; j < k; j++) fprintf(out, "%*lld", width, (long long)c->counts[i * k + j]);
        fprintf(out, "   %6.2f%%\n", 100 * tg_confusion_class_accuracy(c, i));
    }
}

void tg_history_free(tg_history *h) {
    if (!h) return;
    free(h->epochs);
    free(h->step_loss);
    *h = (tg_history){0};
}

/* Grows *items (of `size` bytes each) so that one more fits. */
static bool grow(void **items, int64_t count, int64_t *capacity, size_t size) {
    if (count < *capacity) return true;
    int64_t cap = *capacity ? *capacity * 2 : 64;
    void *grown = realloc(*items, (size_t)cap * size);
    if (!grown) return false;
    *items = grown;
    *capacity = cap;
    return true;
}

tg_status tg_history_add_epoch(tg_history *h, const tg_epoch_metrics *m) {
    if (!grow((void **)&h->epochs, h->n_epochs, &h->cap_epochs, sizeof *h->epochs))
        return tg_set_error(TG_ERR_NOMEM, "tg_history_add_epoch: out of memory");
    h->epochs[h->n_epochs++] = *m;
    return TG_OK;
}

tg_status tg_history_add_step(tg_history *h, double loss) {
    if (!grow((void **)&h->step_loss, h->n_steps, &h->cap_steps, sizeof *h->step_loss))
        return tg_set_error(TG_ERR_NOMEM, "tg_history_add_step: out of memory");
    h->step_loss[h->n_steps++] = (float)loss;
    return TG_OK;
}

void tg_log_header(FILE *log) {
    if (log) fprintf(log, "kind,epoch,step,lr,loss,accuracy,test_loss,test_accuracy,seconds,samples_per_second\n");
}

/* a cell: empty for NaN */
static void cell(FILE *log, double v, const char *end) {
    if (isnan(v))
        fprintf(log, "%s", end);
    else
        fprintf(log, "%.9g%s", v, end);
}

void tg_log_step(FILE *log, int64_t epoch, int64_t step, double lr, double loss) {
    if (!log) return;
    fprintf(log, "step,%lld,%lld,", (long long)epoch, (long long)step);
    cell(log, lr, ",");
    cell(log, loss, ",,,,,\n");
}

void tg_log_epoch(FILE *log, const tg_epoch_metrics *m) {
    if (!log) return;
    fprintf(log, "epoch,%lld,%lld,", (long long)m->epoch, (long long)m->steps);
    cell(log, m->lr, ",");
    cell(log, m->train_loss, ",");
    cell(log, m->train_accuracy, ",");
    cell(log, m->test_loss, ",");
    cell(log, m->test_accuracy, ",");
    cell(log, m->train_seconds, ",");
    cell(log, m->samples_per_second, "\n");
}
