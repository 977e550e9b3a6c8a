/* Curves with PLplot: two panels, loss (left) and accuracy (right). */
#define _POSIX_C_SOURCE 200809L /* mkstemp */
#include "train/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef TG_HAVE_PLPLOT
#include <plplot.h>
#include <setjmp.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

/* The PLplot device for a file name: "svg", "pngcairo", "pdfcairo" or NULL. */
static const char *device_for(const char *path) {
    const char *dot = strrchr(path, '.');
    if (!dot) return NULL;
    if (strcmp(dot, ".svg") == 0) return "svg";
    if (strcmp(dot, ".png") == 0) return "pngcairo";
    if (strcmp(dot, ".pdf") == 0) return "pdfcairo";
    return NULL;
}

static tg_status check_args(const tg_history *h, const char *path) {
    const char *who = "tg_plot_history";
    if (!h || !path) return tg_set_error(TG_ERR_ARG, "%s: history or path is NULL", who);
    if (!device_for(path))
        return tg_set_error(TG_ERR_ARG, "%s: '%s': the file name must end in .svg, .png or .pdf", who, path);
    if (h->n_epochs < 1 && h->n_steps < 1) return tg_set_error(TG_ERR_ARG, "%s: the history is empty", who);
    return TG_OK;
}

#ifndef TG_HAVE_PLPLOT

tg_status tg_plot_history(const tg_history *h, int64_t steps_per_epoch, const char *path, const char *title) {
    (void)steps_per_epoch;
    (void)title;
    tg_status st = check_args(h, path);
    if (st) return st;
    return tg_set_error(TG_ERR_UNSUPPORTED,
                        "tg_plot_history: built without PLplot (install libplplot-dev and plplot-driver-cairo, then "
                        "rebuild); the CSV log (--log FILE) has the same numbers, e.g. gnuplot -e \"set datafile "
                        "separator ','; set terminal svg; set output '%s'; plot '< grep ^epoch FILE' using 2:5 with "
                        "lines title 'train loss'\"",
                        path);
}

#else

enum { WHITE = 0, INK = 1, TRAIN = 2, TEST = 3, FAINT = 4, GRID = 5 };

static jmp_buf plplot_failed;
static char plplot_message[256];

/* PLplot calls this before it would exit the process: go back to the caller instead. */
static int on_plplot_exit(const char *message) {
    snprintf(plplot_message, sizeof plplot_message, "%s", message ? message : "unknown error");
    longjmp(plplot_failed, 1);
}

static void range_of(const double *v, int64_t n, double *lo, double *hi) {
    for (int64_t i = 0; i < n; i++)
        if (isfinite(v[i])) {
            if (v[i] < *lo) *lo = v[i];
            if (v[i] > *hi) *hi = v[i];
        }
}

static void axes(double x_max, double y_lo, double y_hi, const char *y_label, const char *title) {
    if (!(y_hi > y_lo)) {
        y_lo -= 0.5;
        y_hi += 0.5;
    }
    double pad = 0.05 * (y_hi - y_lo);
    plvsta();
    plwind(0, x_max, y_lo - pad, y_hi + pad);
    plcol0(GRID);
    plbox("g", 0, 0, "g", 0, 0);
    plcol0(INK);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    pllab("epoch", y_label, title);
}

/* a curve through the finite points (x, y), with a dot at each point if `dots` */
static void curve(const double *x, const double *y, int64_t n, int color, double width, bool dots) {
    plcol0(color);
    plwidth(width);
    int64_t start = 0;
    while (start < n) {
        while (start < n && !isfinite(y[start])) start++;
        int64_t end = start;
        while (end < n && isfinite(y[end])) end++;
        if (end - start > 1) plline((PLINT)(end - start), x + start, y + start);
        if (dots && end - start >= 1) plpoin((PLINT)(end - start), x + start, y + start, 17);
        start = end;
    }
    plwidth(1);
}

static void legend(int n, const char **text, const int *colors, PLINT corner) {
    PLINT opts[3], text_colors[3], line_colors[3], styles[3];
    PLFLT widths[3], w, h;
    for (int i = 0; i < n; i++) {
        opts[i] = PL_LEGEND_LINE;
        text_colors[i] = INK;
        line_colors[i] = colors[i];
        styles[i] = 1;
        widths[i] = 2;
    }
    pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX, corner | PL_POSITION_RIGHT | PL_POSITION_INSIDE,
             0.02, 0.02, 0.08, WHITE, INK, 1, 0, 0, n, opts, 1.0, 0.8, 2.0, 0.0, text_colors, text, NULL, NULL, NULL,
             NULL, line_colors, styles, widths, NULL, NULL, NULL, NULL);
}

/* Draws into an open output; called between plinit and plend. */
static void draw(const tg_history *h, int64_t steps_per_epoch, const char *title, double *buf) {
    int64_t ne = h->n_epochs, ns = h->n_steps;
    double *ex = buf, *tl = ex + ne, *vl = tl + ne, *ta = vl + ne, *va = ta + ne, *sx = va + ne, *sl = sx + ns;
    for (int64_t e = 0; e < ne; e++) {
        const tg_epoch_metrics *m = &h->epochs[e];
        ex[e] = (double)m->epoch;
        tl[e] = m->train_loss;
        vl[e] = m->test_loss;
        ta[e] = 100 * m->train_accuracy;
        va[e] = 100 * m->test_accuracy;
    }
    for (int64_t s = 0; s < ns; s++) {
        sx[s] = steps_per_epoch > 0 ? (double)(s + 1) / (double)steps_per_epoch : (double)(s + 1);
        sl[s] = h->step_loss[s];
    }
    double x_max = ne ? ex[ne - 1] : 1;
    if (ns && sx[ns - 1] > x_max) x_max = sx[ns - 1];
    bool accuracy = false;
    for (int64_t e = 0; e < ne; e++) accuracy |= isfinite(ta[e]) || isfinite(va[e]);

    pladv(1);
    double lo = INFINITY, hi = -INFINITY;
    range_of(tl, ne, &lo, &hi);
    range_of(vl, ne, &lo, &hi);
    double step_lo = lo, step_hi = hi;
    range_of(sl, ns, &step_lo, &step_hi);
    if (!isfinite(lo)) lo = step_lo, hi = step_hi;
    if (step_hi > hi + 2 * (hi - lo) + 1e-12) step_hi = hi + 2 * (hi - lo); /* early steps do not flatten the rest */
    axes(x_max, lo < step_lo ? lo : step_lo, step_hi > hi ? step_hi : hi, "loss", title);
    curve(sx, sl, ns, FAINT, 1, false);
    curve(ex, tl, ne, TRAIN, 2, true);
    curve(ex, vl, ne, TEST, 2, true);
    legend(3, (const char *[]){"train (epoch mean)", "test", "train (each step)"}, (const int[]){TRAIN, TEST, FAINT},
           PL_POSITION_TOP);

    pladv(2);
    if (accuracy) {
        lo = INFINITY, hi = -INFINITY;
        range_of(ta, ne, &lo, &hi);
        range_of(va, ne, &lo, &hi);
        axes(x_max, lo, hi, "accuracy (%)", "accuracy");
        curve(ex, ta, ne, TRAIN, 2, true);
        curve(ex, va, ne, TEST, 2, true);
        legend(2, (const char *[]){"train", "test"}, (const int[]){TRAIN, TEST}, PL_POSITION_BOTTOM);
    } else {
        lo = INFINITY, hi = -INFINITY;
        range_of(vl, ne, &lo, &hi);
        if (!isfinite(lo)) range_of(tl, ne, &lo, &hi);
        axes(x_max, lo, hi, "loss", "loss per epoch");
        curve(ex, tl, ne, TRAIN, 2, true);
        curve(ex, vl, ne, TEST, 2, true);
        legend(2, (const char *[]){"train", "test"}, (const int[]){TRAIN, TEST}, PL_POSITION_TOP);
    }
}

tg_status tg_plot_history(const tg_history *h, int64_t steps_per_epoch, const char *path, const char *title) {
    const char *who = "tg_plot_history";
    tg_status st = check_args(h, path);
    if (st) return st;
    double *buf = malloc(sizeof(double) * (size_t)(5 * h->n_epochs + 2 * h->n_steps + 1));
    char *tmp = malloc(strlen(path) + 16);
    if (!buf || !tmp) {
        free(buf);
        free(tmp);
        return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    }
    /* a temporary next to path, renamed over it when complete */
    snprintf(tmp, strlen(path) + 16, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp); /* reserves the name; PLplot writes the file */
    if (fd < 0) {
        free(buf);
        free(tmp);
        return tg_set_error(TG_ERR_IO, "%s: cannot write next to '%s'", who, path);
    }
    fchmod(fd, 0644); /* a picture for anyone to read, not mkstemp's 0600 */
    close(fd);
    volatile bool failed = false;
    plsexit(on_plplot_exit);
    if (setjmp(plplot_failed) == 0) {
        plsdev(device_for(path));
        plsfnam(tmp);
        plspage(0, 0, 1200, 480, 0, 0);
        plscolbg(255, 255, 255);
        plscol0(INK, 30, 30, 30);
        plscol0(TRAIN, 31, 119, 180);
        plscol0(TEST, 214, 39, 40);
        plscol0(FAINT, 190, 190, 200);
        plscol0(GRID, 225, 225, 225);
        plssub(2, 1);
        plinit();
        plfont(1);
        plschr(0, 0.9);
        draw(h, steps_per_epoch, title ? title : "loss", buf);
        plend();
    } else {
        failed = true;
    }
    plsexit(NULL);
    free(buf);
    if (failed || rename(tmp, path) != 0) {
        unlink(tmp);
        free(tmp);
        return tg_set_error(TG_ERR_IO, "%s: drawing '%s' failed%s%s", who, path, failed ? ": " : "",
                            failed ? plplot_message : "");
    }
    free(tmp);
    return TG_OK;
}

#endif
