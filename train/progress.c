#define _POSIX_C_SOURCE 200809L /* fileno */
#include "train/progress.h"

#include <math.h>
#include <time.h>
#include <unistd.h>

tg_progress_printer tg_progress_printer_for(FILE *out) {
    return (tg_progress_printer){.out = out, .in_place = out && isatty(fileno(out))};
}

/* "1.2s", "3m05s" */
static const char *duration(double seconds, char *buf, size_t size) {
    if (!isfinite(seconds) || seconds < 0)
        snprintf(buf, size, "?");
    else if (seconds < 60)
        snprintf(buf, size, "%.1fs", seconds);
    else
        snprintf(buf, size, "%dm%02ds", (int)(seconds / 60), (int)fmod(seconds, 60));
    return buf;
}

/* the end of an epoch: loss, accuracies, speed */
static int epoch_line(FILE *out, const tg_progress *p) {
    const tg_epoch_metrics *m = p->metrics;
    int n = fprintf(out, "epoch %lld/%lld  loss %.4f", (long long)m->epoch, (long long)p->epochs, m->train_loss);
    if (!isnan(m->train_accuracy)) n += fprintf(out, "  acc %.2f%%", 100 * m->train_accuracy);
    if (!isnan(m->test_loss)) n += fprintf(out, "  test loss %.4f", m->test_loss);
    if (!isnan(m->test_accuracy)) n += fprintf(out, "  test acc %.2f%%", 100 * m->test_accuracy);
    n += fprintf(out, "  %.0f samples/s  %.2fs", m->samples_per_second, m->train_seconds);
    if (m->eval_seconds > 0) n += fprintf(out, " (+%.2fs eval)", m->eval_seconds);
    return n;
}

void tg_progress_print(const tg_progress *p, void *user) {
    tg_progress_printer *pr = user;
    if (!pr || !pr->out) return;
    FILE *out = pr->out;
    if (p->epoch_end) {
        if (pr->in_place) fputc('\r', out);
        int n = epoch_line(out, p);
        if (pr->in_place && n < pr->width) fprintf(out, "%*s", pr->width - n, "");
        fputc('\n', out);
        pr->width = 0;
    } else if (pr->in_place) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        double now = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
        if (now - pr->last_write < 0.1 && p->batch < p->batches) return;
        pr->last_write = now;
        char eta[32];
        int bar = p->batches ? (int)(20 * p->batch / p->batches) : 0;
        int n = fprintf(out, "\repoch %lld/%lld [%.*s%*s] %lld/%lld  loss %.4f  %.0f samples/s  ETA %s",
                        (long long)p->epoch, (long long)p->epochs, bar, "====================", 20 - bar, "",
                        (long long)p->batch, (long long)p->batches, p->loss, p->samples_per_second,
                        duration(p->eta_seconds, eta, sizeof eta));
        if (n - 1 < pr->width) fprintf(out, "%*s", pr->width - (n - 1), "");
        pr->width = n - 1;
    }
    fflush(out);
}
