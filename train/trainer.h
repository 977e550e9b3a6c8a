/* The training loop: mini-batch gradient descent of a model on a data set,
 * evaluation after every epoch, progress, a CSV log, and run checkpoints that
 * resume exactly (the same bits as a run that never stopped, for the same
 * thread count).
 *
 *   tg_trainer *tr = tg_trainer_new(model, opt, train_set, test_set,
 *                                   &(tg_fit_opts){.epochs = 5, .batch_size = 128, .l2 = 1e-4});
 *   if (!tr || tg_trainer_fit(tr)) fprintf(stderr, "%s\n", tg_last_error());
 *
 * One step: gather a shuffled batch onto the tape, loss = data loss (cross
 * entropy on integer labels, or mean squared error on targets) + l2/2 sum w^2,
 * backward, set the scheduled learning rate, optimizer step, tape reset.
 * Batch gradient descent is batch_size = N, stochastic batch_size = 1. */
#ifndef TG_TRAIN_TRAINER_H
#define TG_TRAIN_TRAINER_H

#include <signal.h>

#include "data/dataset.h"
#include "optim/optim.h"
#include "train/metrics.h"
#include "train/model.h"

typedef enum tg_lr_kind {
    TG_LR_CONSTANT = 0,
    TG_LR_COSINE, /* from the optimizer's lr down to min_lr over the run's steps */
    TG_LR_STEP    /* times gamma every step_epochs epochs */
} tg_lr_kind;

typedef struct tg_lr_schedule {
    tg_lr_kind kind;
    double min_lr;         /* cosine */
    int64_t step_epochs;   /* step */
    double gamma;          /* step */
    int64_t warmup_steps;  /* a linear warm-up first, for any kind (0: none) */
} tg_lr_schedule;

/* What a progress callback sees: after each step, and at the end of each epoch. */
typedef struct tg_progress {
    bool epoch_end;
    int64_t epoch, epochs;       /* the current epoch, 1-based, of the run's total */
    int64_t batch, batches;      /* batches done in this epoch, of how many */
    int64_t step;                /* optimizer steps so far */
    double loss;                 /* mean loss of the epoch so far */
    double lr;
    double samples_per_second;   /* this epoch's training speed */
    double eta_seconds;          /* to the end of the epoch */
    const tg_epoch_metrics *metrics; /* at epoch_end: with the evaluation */
    const char *data_name, *model_name;
    /* After a step (epoch_end false), a look inside it, valid during the call:
     * the step's tape with its forward values and graph (e.g. a layer's
     * output: tg_scope_output(p->tape, "layer2"), train/inspect.h), the
     * batch's model outputs and loss, and the model, whose parameters' ->grad
     * hold this step's gradients (the optimizer has already updated the
     * values). All NULL at epoch_end. Data parallel: rank 0's share (its
     * tape, outputs and loss; the gradients are the ranks' average). */
    const tg_tape *tape;
    const tg_tensor *step_outputs, *step_loss;
    const tg_model *model;
} tg_progress;

typedef struct tg_fit_opts {
    int64_t epochs;             /* the run's total */
    int64_t batch_size;
    bool drop_last;             /* skip a last batch smaller than batch_size */
    tg_dtype dtype;             /* of the batches: the model's dtype */
    double l2;                  /* lambda of tg_l2_penalty over every trainable parameter (0: none) */
    uint64_t seed;              /* of the shuffling */
    tg_lr_schedule schedule;    /* relative to the optimizer's learning rate when the trainer is made */
    int64_t eval_batch_size;    /* 0: 1000 */
    const char *checkpoint_path;/* a run checkpoint after every epoch and when stopped; NULL: none */
    int64_t max_steps;          /* stop after this many steps in all (0: no limit) */
    volatile sig_atomic_t *stop;/* when it becomes non-zero (e.g. from a SIGINT handler), stop after the step */
    FILE *log;                  /* CSV log (train/metrics.h) or NULL */
    void (*progress)(const tg_progress *p, void *user);
    void *progress_user;
    const char *settings;       /* text saved with the run (e.g. the command line), read by tg_run_settings */
    /* Data parallel (dist/: tg_dist_replicas): every rank runs the same
     * trainer (same model with synchronised batchnorm, optimizer, data, seed
     * and options) and trains on its share of each batch of batch_size
     * (tg_batches_shard); gradients are averaged over the ranks, so the run
     * follows the single-process one with the same batch_size. Rank 0 alone
     * reports progress, writes the log and the checkpoints; an error on one
     * rank stops every rank with its message. NULL: alone. */
    const tg_replicas *replicas;
} tg_fit_opts;

typedef struct tg_trainer tg_trainer;

/* test may be NULL (no evaluation). The trainer keeps pointers to model, opt,
 * train and test: they must outlive it. NULL + tg_last_error() on bad options
 * or a data set that does not fit the model's task. */
tg_trainer *tg_trainer_new(tg_model *model, tg_optim *opt, const tg_dataset *train, const tg_dataset *test,
                           const tg_fit_opts *opts);
void tg_trainer_free(tg_trainer *tr);

/* Trains from where the trainer is to opts.epochs, or until max_steps or a
 * stop request (then it saves the run when checkpoint_path is set). Data
 * parallel: every rank calls it; it begins by setting every rank's
 * parameters and buffers to rank 0's, a stop request on any rank stops all
 * after the same step, and an error on any rank is returned on every rank as
 * "rank R of N: message". */
tg_status tg_trainer_fit(tg_trainer *tr);
bool tg_trainer_finished(const tg_trainer *tr);   /* every epoch ran */
bool tg_trainer_stopped(const tg_trainer *tr);    /* the last fit stopped early (max_steps or stop) */
int64_t tg_trainer_epochs_done(const tg_trainer *tr);
int64_t tg_trainer_steps(const tg_trainer *tr);
const tg_history *tg_trainer_history(const tg_trainer *tr);

/* A run checkpoint: the model's parameters and buffers, the optimizer's
 * state, the shuffling generator and the mini-batch position, the step and
 * epoch, the history and the settings text; atomic, checksummed. Resuming
 * checks all of it against this trainer before changing anything. Data
 * parallel, both are collective: rank 0 writes, every rank reads `path` (a
 * file every rank can see) and checks it, then all load or none does. A run
 * saved on one rank count resumes on any other with the same batch size. */
tg_status tg_trainer_save(const tg_trainer *tr, const char *path);
tg_status tg_trainer_resume(tg_trainer *tr, const char *path);
/* The settings text saved in a run checkpoint (to rebuild its model first). */
tg_status tg_run_settings(const char *path, char *out, size_t size);

/* A model on a data set in evaluation mode (running batchnorm statistics, no
 * graph): mean data loss and, for classification, accuracy and the confusion
 * matrix (initialised here; free it with tg_confusion_free). */
typedef struct tg_evaluation {
    int64_t samples;
    double loss;
    double accuracy;            /* NaN for regression */
    tg_confusion confusion;     /* classification only */
} tg_evaluation;
tg_status tg_evaluate(tg_model *model, const tg_dataset *ds, tg_dtype dtype, int64_t batch_size, tg_tape *t,
                      tg_evaluation *out);

#endif
