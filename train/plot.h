/* Training curves drawn with PLplot (optional, like Graphviz): the loss of
 * every step and of every epoch (train and test), and the accuracy per epoch.
 *
 *   tg_plot_history(tg_trainer_history(tr), "curves.svg", "mlp on fashion-mnist");
 *
 * The format follows the extension: .svg, .png or .pdf. Built without PLplot,
 * TG_ERR_UNSUPPORTED with a message saying how to plot the CSV log instead.
 * PLplot keeps global state: draw from one thread at a time. */
#ifndef TG_TRAIN_PLOT_H
#define TG_TRAIN_PLOT_H

#include "train/metrics.h"

/* steps_per_epoch places the step losses along the epoch axis. */
tg_status tg_plot_history(const tg_history *h, int64_t steps_per_epoch, const char *path, const char *title);

#endif
