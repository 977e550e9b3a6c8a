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

/* Any curves: named series of (x, y) on shared axes, in panels side by side.
 *
 *   tg_plot_series s[2] = {{"train", epochs, train_loss, n, TG_PLOT_LINE_POINTS},
 *                          {"test", epochs, test_loss, n, TG_PLOT_LINE_POINTS}};
 *   tg_plot_panel panel = {.title = "loss", .x_label = "epoch", .y_label = "loss",
 *                          .series = s, .n_series = 2};
 *   tg_plot_panels("loss.svg", 1, &panel);
 *
 * Series take the colours of a fixed palette in order (or their own
 * `color`, 1-based). A non-finite y breaks a line; on a log axis a value
 * <= 0 does too. The axes fit the finite data unless limits are given. */
typedef enum tg_plot_style {
    TG_PLOT_LINE = 0,
    TG_PLOT_POINTS,
    TG_PLOT_LINE_POINTS,
    TG_PLOT_DASHED
} tg_plot_style;

typedef enum tg_plot_legend {
    TG_LEGEND_OUTSIDE = 0,     /* to the right of the axes, never over a curve */
    TG_LEGEND_TOP_RIGHT,
    TG_LEGEND_TOP_LEFT,
    TG_LEGEND_BOTTOM_RIGHT,
    TG_LEGEND_BOTTOM_LEFT,
    TG_LEGEND_NONE
} tg_plot_legend;

enum { TG_PLOT_COLORS = 8, TG_PLOT_MAX_SERIES = 16, TG_PLOT_MAX_PANELS = 4 };

typedef struct tg_plot_series {
    const char *name;          /* legend text; NULL: not in the legend */
    const double *x, *y;       /* n points */
    int64_t n;
    tg_plot_style style;
    int color;                 /* 1..TG_PLOT_COLORS; 0: the series' place in the panel */
} tg_plot_series;

typedef struct tg_plot_panel {
    const char *title, *x_label, *y_label;
    bool log_x, log_y;         /* log10 axes */
    double x_min, x_max;       /* both 0: fit the data */
    double y_min, y_max;       /* both 0: fit the data (values outside are clipped) */
    tg_plot_legend legend;
    const tg_plot_series *series;
    int n_series;              /* up to TG_PLOT_MAX_SERIES */
} tg_plot_panel;

/* Draws 1..TG_PLOT_MAX_PANELS panels side by side (700 x 480 each) into path
 * (.svg, .png or .pdf), written whole or not at all. Errors: TG_ERR_ARG for
 * NULL series data, a bad count or extension, a panel without a single
 * point to draw; TG_ERR_UNSUPPORTED without PLplot; TG_ERR_IO. */
tg_status tg_plot_panels(const char *path, int n_panels, const tg_plot_panel *panels);

#endif
