/* The trainer's state (private to train/): what a run checkpoint saves. */
#ifndef TG_TRAIN_TRAINER_PRIVATE_H
#define TG_TRAIN_TRAINER_PRIVATE_H

#include "optim/batches.h"
#include "train/trainer.h"

/* Everything that decides the rest of a run, besides parameters, optimizer
 * state and the mini-batch order. */
typedef struct tg_run_state {
    int64_t epochs_done;
    int64_t steps;
    int64_t batches_per_epoch;
    double base_lr;
    /* the epoch in progress */
    int64_t batches_done, seen, correct;
    double loss_sum;
    double epoch_seconds;     /* training time before a stop */
    tg_rng rng;               /* shuffles the mini-batches */
} tg_run_state;

struct tg_trainer {
    tg_model *model;
    tg_optim *opt;
    const tg_dataset *train, *test;
    tg_fit_opts opts;
    bool classification;
    bool stopped;
    double last_lr;
    const tg_tensor *last_outputs, *last_loss; /* of the last step, on tape, for the progress callback */
    tg_run_state state;
    tg_tape *tape;
    tg_batches *batches;
    tg_history history;
    const tg_replicas *replicas; /* data parallel over more than one rank, else NULL */
    bool stop_agreed;            /* data parallel: some rank asked to stop during the last step */
};

double tg_now_seconds(void); /* a monotonic clock */
/* The scheduled learning rate of step `step` (0-based). */
double tg_trainer_lr_at(const tg_trainer *tr, int64_t step);

#endif
