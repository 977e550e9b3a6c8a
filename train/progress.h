/* A progress printer for tg_fit_opts.progress: on a terminal, one line per
 * epoch updated in place (batches done, samples/s, running loss, ETA); into a
 * file or pipe, one plain line per epoch.
 *
 *   tg_progress_printer printer = tg_progress_printer_for(stdout);
 *   opts.progress = tg_progress_print;  opts.progress_user = &printer;
 */
#ifndef TG_TRAIN_PROGRESS_H
#define TG_TRAIN_PROGRESS_H

#include <stdio.h>

#include "train/trainer.h"

typedef struct tg_progress_printer {
    FILE *out;
    bool in_place;        /* a terminal: rewrite the line with \r (at most 10 times a second) */
    int width;            /* of the line last written in place */
    double last_write;    /* when, in seconds of a monotonic clock */
} tg_progress_printer;

/* in_place when out is a terminal */
tg_progress_printer tg_progress_printer_for(FILE *out);
/* user is a tg_progress_printer */
void tg_progress_print(const tg_progress *p, void *user);

#endif
