/* Metrics of a model on a data set: mean loss, and for classification the
 * accuracy, per-class accuracy and confusion matrix; plus the running history
 * of a training run and its CSV log. */
#ifndef TG_TRAIN_METRICS_H
#define TG_TRAIN_METRICS_H

#include <stdio.h>

#include "core/tensor.h"

/* counts[true_class * classes + predicted_class] */
typedef struct tg_confusion {
    int64_t classes;
    int64_t *counts;
} tg_confusion;

tg_status tg_confusion_init(tg_confusion *c, int64_t classes); /* zeroed counts */
void tg_confusion_free(tg_confusion *c);
void tg_confusion_clear(tg_confusion *c);
/* Adds each row's argmax of logits [N, classes] (first maximum on ties) against labels[N]. */
tg_status tg_confusion_add(tg_confusion *c, const tg_tensor *logits, const int64_t *labels);
int64_t tg_confusion_total(const tg_confusion *c);
double tg_confusion_accuracy(const tg_confusion *c);            /* trace / total; NaN if empty */
double tg_confusion_class_accuracy(const tg_confusion *c, int64_t k); /* recall of class k; NaN if no sample */
/* The matrix as text, rows true classes, columns predictions, with per-class
 * accuracy; class names may be NULL (then "0", "1", ...). */
void tg_confusion_print(FILE *out, const tg_confusion *c, const char *(*class_name)(const void *, int64_t),
                        const void *names);

/* One epoch of a training run. Accuracies are NaN for regression. */
typedef struct tg_epoch_metrics {
    int64_t epoch;            /* 1-based */
    int64_t steps;            /* optimizer steps taken by the end of the epoch */
    double lr;                /* learning rate of the epoch's last step */
    double train_loss;        /* mean of the epoch's minibatch losses (data loss + penalty) */
    double train_accuracy;    /* on the training batches as they were seen */
    double test_loss;         /* data loss on the evaluation set, NaN without one */
    double test_accuracy;
    double train_seconds;     /* the epoch's steps, data gathering included */
    double eval_seconds;
    double samples_per_second;
} tg_epoch_metrics;

/* Everything a run measured: per epoch, and each step's loss. */
typedef struct tg_history {
    tg_epoch_metrics *epochs;
    int64_t n_epochs, cap_epochs;
    float *step_loss;         /* loss of step s+1 at index s */
    int64_t n_steps, cap_steps;
} tg_history;

void tg_history_free(tg_history *h);
tg_status tg_history_add_epoch(tg_history *h, const tg_epoch_metrics *m);
tg_status tg_history_add_step(tg_history *h, double loss);

/* The CSV log: a header, then one row per step ("step") and per epoch ("epoch"):
 *   kind,epoch,step,lr,loss,accuracy,test_loss,test_accuracy,seconds,samples_per_second
 * Empty cells where a value does not apply. */
void tg_log_header(FILE *log);
void tg_log_step(FILE *log, int64_t epoch, int64_t step, double lr, double loss);
void tg_log_epoch(FILE *log, const tg_epoch_metrics *m);

#endif
