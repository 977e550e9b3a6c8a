/* Curves with PLplot: a training history in two panels, loss (left) and
 * accuracy (right); and any named series on panels of their own. */
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

static tg_status check_panels(const char *path, int n_panels, const tg_plot_panel *panels) {
    const char *who = "tg_plot_panels";
    if (!path || !panels) return tg_set_error(TG_ERR_ARG, "%s: path or panels is NULL", who);
    if (!device_for(path))
        return tg_set_error(TG_ERR_ARG, "%s: '%s': the file name must end in .svg, .png or .pdf", who, path);
    if (n_panels < 1 || n_panels > TG_PLOT_MAX_PANELS)
        return tg_set_error(TG_ERR_ARG, "%s: %d panels, expected 1 to %d", who, n_panels, TG_PLOT_MAX_PANELS);
    for (int k = 0; k < n_panels; k++) {
        const tg_plot_panel *p = &panels[k];
        if (p->n_series < 1 || p->n_series > TG_PLOT_MAX_SERIES || !p->series)
            return tg_set_error(TG_ERR_ARG, "%s: panel %d has %d series, expected 1 to %d", who, k + 1, p->n_series,
                                TG_PLOT_MAX_SERIES);
        if ((unsigned)p->legend > TG_LEGEND_NONE)
            return tg_set_error(TG_ERR_ARG, "%s: panel %d: unknown legend position %d", who, k + 1, (int)p->legend);
        int64_t drawable = 0;
        for (int i = 0; i < p->n_series; i++) {
            const tg_plot_series *s = &p->series[i];
            if (s->n < 0 || (s->n > 0 && (!s->x || !s->y)) || (unsigned)s->style > TG_PLOT_DASHED ||
                s->color < 0 || s->color > TG_PLOT_COLORS)
                return tg_set_error(TG_ERR_ARG,
                                    "%s: panel %d, series %d ('%s'): NULL data, n %lld < 0, bad style or colour", who,
                                    k + 1, i + 1, s->name ? s->name : "", (long long)s->n);
            for (int64_t j = 0; j < s->n; j++)
                drawable += isfinite(s->x[j]) && isfinite(s->y[j]) && (!p->log_x || s->x[j] > 0) &&
                            (!p->log_y || s->y[j] > 0);
        }
        if (!drawable)
            return tg_set_error(TG_ERR_ARG, "%s: panel %d ('%s') has no point to draw", who, k + 1,
                                p->title ? p->title : "");
    }
    return TG_OK;
}

#ifndef TG_HAVE_PLPLOT

static tg_status unsupported(const char *who, const char *path) {
    return tg_set_error(TG_ERR_UNSUPPORTED,
                        "%s: built without PLplot (install libplplot-dev and plplot-driver-cairo, then "
                        "rebuild); the CSV log (--log FILE) has the same numbers, e.g. gnuplot -e \"set datafile "
                        "separator ','; set terminal svg; set output '%s'; plot '< grep ^epoch FILE' using 2:5 with "
                        "lines title 'train loss'\"",
                        who, path);
}

tg_status tg_plot_panels(const char *path, int n_panels, const tg_plot_panel *panels) {
    tg_status st = check_panels(path, n_panels, panels);
    return st ? st : unsupported("tg_plot_panels", path);
}

tg_status tg_plot_history(const tg_history *h, int64_t steps_per_epoch, const char *path, const char *title) {
    (void)steps_per_epoch;
    (void)title;
    tg_status st = check_args(h, path);
    return st ? st : unsupported("tg_plot_history", path);
}

#else

enum { WHITE = 0, INK = 1, TRAIN = 2, TEST = 3, FAINT = 4, GRID = 5, PALETTE = 6 /* .. PALETTE + 7 */ };

/* the series palette: distinct on white, in order */
static const unsigned char palette[TG_PLOT_COLORS][3] = {
    {31, 119, 180}, {214, 39, 40}, {44, 160, 44}, {255, 127, 14},
    {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {23, 190, 207}};

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

/* a legend of n entries; styles NULL: plain lines. corner: PL_POSITION_* bits */
static void legend_at(int n, const char **text, const int *colors, const tg_plot_style *styles, PLINT corner,
                      PLFLT text_scale) {
    PLINT opts[TG_PLOT_MAX_SERIES], text_colors[TG_PLOT_MAX_SERIES], line_colors[TG_PLOT_MAX_SERIES];
    PLINT line_styles[TG_PLOT_MAX_SERIES], symbol_numbers[TG_PLOT_MAX_SERIES];
    PLFLT widths[TG_PLOT_MAX_SERIES], scales[TG_PLOT_MAX_SERIES], w, h;
    const char *symbols[TG_PLOT_MAX_SERIES];
    for (int i = 0; i < n; i++) {
        tg_plot_style s = styles ? styles[i] : TG_PLOT_LINE;
        opts[i] = (s == TG_PLOT_POINTS ? 0 : PL_LEGEND_LINE) |
                  (s == TG_PLOT_POINTS || s == TG_PLOT_LINE_POINTS ? PL_LEGEND_SYMBOL : 0);
        text_colors[i] = INK;
        line_colors[i] = colors[i];
        line_styles[i] = s == TG_PLOT_DASHED ? 2 : 1;
        widths[i] = 2;
        symbol_numbers[i] = 1;
        scales[i] = 0.8;
        symbols[i] = "#(210)"; /* a filled dot, as plpoin's 17 */
    }
    if (!(corner & PL_POSITION_OUTSIDE)) corner |= PL_POSITION_INSIDE;
    pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX, corner, 0.02, 0.02, 0.05,
             WHITE, INK, 1, 0, 0, n, opts, 0.8, text_scale, 1.8, 0.0, text_colors, text, NULL, NULL, NULL, NULL,
             line_colors, line_styles, widths, line_colors, scales, symbol_numbers, symbols);
}

static void legend(int n, const char **text, const int *colors, PLINT corner) {
    legend_at(n, text, colors, NULL, corner | PL_POSITION_RIGHT, 0.8);
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

/* Opens path's device with `subpages` panels side by side of 600 x 480 (the
 * history: 1200 x 480 in two), calls draw(user) and writes the file whole:
 * into a temporary beside path, renamed over it when complete. */
static tg_status render(const char *who, const char *path, int subpages, int width, void (*draw_fn)(void *),
                        void *user) {
    char *tmp = malloc(strlen(path) + 16);
    if (!tmp) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    snprintf(tmp, strlen(path) + 16, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp); /* reserves the name; PLplot writes the file */
    if (fd < 0) {
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
        plspage(0, 0, width, 480, 0, 0);
        plscolbg(255, 255, 255);
        plscol0(INK, 30, 30, 30);
        plscol0(TRAIN, 31, 119, 180);
        plscol0(TEST, 214, 39, 40);
        plscol0(FAINT, 190, 190, 200);
        plscol0(GRID, 225, 225, 225);
        for (int i = 0; i < TG_PLOT_COLORS; i++) plscol0(PALETTE + i, palette[i][0], palette[i][1], palette[i][2]);
        plssub(subpages, 1);
        plinit();
        plfont(1);
        plschr(0, 0.9);
        draw_fn(user);
        plend();
    } else {
        failed = true;
    }
    plsexit(NULL);
    if (failed || rename(tmp, path) != 0) {
        unlink(tmp);
        free(tmp);
        return tg_set_error(TG_ERR_IO, "%s: drawing '%s' failed%s%s", who, path, failed ? ": " : "",
                            failed ? plplot_message : "");
    }
    free(tmp);
    return TG_OK;
}

typedef struct history_drawing {
    const tg_history *h;
    int64_t steps_per_epoch;
    const char *title;
    double *buf;
} history_drawing;

static void draw_history(void *user) {
    history_drawing *d = user;
    draw(d->h, d->steps_per_epoch, d->title, d->buf);
}

tg_status tg_plot_history(const tg_history *h, int64_t steps_per_epoch, const char *path, const char *title) {
    tg_status st = check_args(h, path);
    if (st) return st;
    double *buf = malloc(sizeof(double) * (size_t)(5 * h->n_epochs + 2 * h->n_steps + 1));
    if (!buf) return tg_set_error(TG_ERR_NOMEM, "tg_plot_history: out of memory");
    history_drawing d = {h, steps_per_epoch, title ? title : "loss", buf};
    st = render("tg_plot_history", path, 2, 1200, draw_history, &d);
    free(buf);
    return st;
}

/* ---- named series on panels ---- */

/* the plotted coordinate of v on a linear or log10 axis; NaN if it cannot be drawn */
static double coordinate(double v, bool log_axis) {
    if (!isfinite(v)) return NAN;
    if (log_axis) return v > 0 ? log10(v) : NAN;
    return v;
}

/* [lo, hi] of the given limits, or of the drawable data with a margin */
static void panel_range(const tg_plot_panel *p, bool x_axis, double *lo, double *hi) {
    bool log_axis = x_axis ? p->log_x : p->log_y;
    double given_lo = x_axis ? p->x_min : p->y_min, given_hi = x_axis ? p->x_max : p->y_max;
    if (given_lo != 0 || given_hi != 0) {
        *lo = coordinate(given_lo, log_axis);
        *hi = coordinate(given_hi, log_axis);
    } else {
        *lo = INFINITY;
        *hi = -INFINITY;
        for (int i = 0; i < p->n_series; i++) {
            const tg_plot_series *s = &p->series[i];
            for (int64_t j = 0; j < s->n; j++) {
                double x = coordinate(s->x[j], p->log_x), y = coordinate(s->y[j], p->log_y);
                if (!isfinite(x) || !isfinite(y)) continue;
                double v = x_axis ? x : y;
                *lo = v < *lo ? v : *lo;
                *hi = v > *hi ? v : *hi;
            }
        }
        double pad = x_axis ? 0 : 0.05 * (*hi - *lo);
        *lo -= pad;
        *hi += pad;
    }
    if (!(*hi > *lo)) { /* one value, or limits given the wrong way round */
        double mid = isfinite(*lo) ? *lo : 0;
        *lo = mid - 0.5;
        *hi = mid + 0.5;
    }
}

/* one series: lines through runs of drawable points, dots at the points */
static void draw_series(const tg_plot_panel *p, const tg_plot_series *s, int color, double y_lo, double y_hi,
                        double *x, double *y) {
    int64_t m = 0;
    for (int64_t j = 0; j < s->n; j++) {
        x[j] = coordinate(s->x[j], p->log_x);
        double v = coordinate(s->y[j], p->log_y);
        /* far outside the axes: pulled in to where the line still leaves the panel at the right angle
           (PLplot clips it at the frame), without huge coordinates */
        double span = 100 * (y_hi - y_lo);
        y[j] = isfinite(v) ? (v < y_lo - span ? y_lo - span : v > y_hi + span ? y_hi + span : v) : NAN;
        m += isfinite(x[j]) && isfinite(y[j]);
    }
    if (!m) return;
    plcol0(color);
    plwidth(2);
    pllsty(s->style == TG_PLOT_DASHED ? 2 : 1);
    bool lines = s->style != TG_PLOT_POINTS, dots = s->style == TG_PLOT_POINTS || s->style == TG_PLOT_LINE_POINTS;
    int64_t start = 0;
    while (start < s->n) {
        while (start < s->n && !(isfinite(x[start]) && isfinite(y[start]))) start++;
        int64_t end = start;
        while (end < s->n && isfinite(x[end]) && isfinite(y[end])) end++;
        if (lines && end - start > 1) plline((PLINT)(end - start), x + start, y + start);
        if (dots && end > start) plpoin((PLINT)(end - start), x + start, y + start, 17);
        start = end;
    }
    pllsty(1);
    plwidth(1);
}

typedef struct panels_drawing {
    int n;
    const tg_plot_panel *panels;
    double *x, *y; /* scratch for the longest series */
} panels_drawing;

static void draw_panels(void *user) {
    panels_drawing *d = user;
    plschr(0, 0.62); /* room for the legends beside the axes */
    for (int k = 0; k < d->n; k++) {
        const tg_plot_panel *p = &d->panels[k];
        double x_lo, x_hi, y_lo, y_hi;
        panel_range(p, true, &x_lo, &x_hi);
        panel_range(p, false, &y_lo, &y_hi);
        pladv(k + 1);
        bool outside = p->legend == TG_LEGEND_OUTSIDE;
        plvpor(0.14, outside ? 0.62 : 0.95, 0.16, 0.9);
        plwind(x_lo, x_hi, y_lo, y_hi);
        const char *x_opts = p->log_x ? "bcnstl" : "bcnst", *y_opts = p->log_y ? "bcnstvl" : "bcnstv";
        plcol0(GRID);
        plbox(p->log_x ? "gl" : "g", 0, 0, p->log_y ? "gl" : "g", 0, 0);
        plcol0(INK);
        plbox(x_opts, 0, 0, y_opts, 0, 0);
        pllab(p->x_label ? p->x_label : "", p->y_label ? p->y_label : "", p->title ? p->title : "");
        const char *names[TG_PLOT_MAX_SERIES];
        int colors[TG_PLOT_MAX_SERIES], named = 0;
        tg_plot_style styles[TG_PLOT_MAX_SERIES];
        for (int i = 0; i < p->n_series; i++) {
            const tg_plot_series *s = &p->series[i];
            int color = PALETTE + (s->color ? s->color - 1 : i % TG_PLOT_COLORS);
            draw_series(p, s, color, y_lo, y_hi, d->x, d->y);
            if (s->name) {
                names[named] = s->name;
                colors[named] = color;
                styles[named++] = s->style;
            }
        }
        static const PLINT corners[] = {PL_POSITION_RIGHT | PL_POSITION_OUTSIDE,
                                        PL_POSITION_TOP | PL_POSITION_RIGHT, PL_POSITION_TOP | PL_POSITION_LEFT,
                                        PL_POSITION_BOTTOM | PL_POSITION_RIGHT,
                                        PL_POSITION_BOTTOM | PL_POSITION_LEFT};
        if (named && p->legend != TG_LEGEND_NONE) legend_at(named, names, colors, styles, corners[p->legend],
                                                            named > 5 ? 0.5 : 0.55);
    }
}

tg_status tg_plot_panels(const char *path, int n_panels, const tg_plot_panel *panels) {
    tg_status st = check_panels(path, n_panels, panels);
    if (st) return st;
    int64_t longest = 1;
    for (int k = 0; k < n_panels; k++)
        for (int i = 0; i < panels[k].n_series; i++)
            longest = panels[k].series[i].n > longest ? panels[k].series[i].n : longest;
    double *x = malloc(sizeof(double) * (size_t)longest), *y = malloc(sizeof(double) * (size_t)longest);
    if (!x || !y) {
        free(x);
        free(y);
        return tg_set_error(TG_ERR_NOMEM, "tg_plot_panels: out of memory");
    }
    panels_drawing d = {n_panels, panels, x, y};
    st = render("tg_plot_panels", path, n_panels, 700 * n_panels, draw_panels, &d);
    free(x);
    free(y);
    return st;
}

#endif
