/* The lessons' registry and the helpers they share (see lesson.h). */
#include "train/lesson.h"

#include <stdarg.h>
#include <string.h>

#include "train/lesson_backprop.h"
#include "train/lesson_bn.h"
#include "train/lesson_gd.h"
#include "train/lesson_l2.h"
#include "train/lesson_lr.h"

/* in the order a reader meets them */
static const tg_lesson *const lessons[] = {&tg_lesson_backprop, &tg_lesson_lr, &tg_lesson_gd, &tg_lesson_l2,
                                           &tg_lesson_bn};
enum { N_LESSONS = sizeof lessons / sizeof lessons[0] };

int tg_lesson_count(void) { return N_LESSONS; }

const tg_lesson *tg_lesson_at(int index) { return index >= 0 && index < N_LESSONS ? lessons[index] : NULL; }

const tg_lesson *tg_lesson_find(const char *name) {
    for (int i = 0; name && i < N_LESSONS; i++)
        if (strcmp(lessons[i]->name, name) == 0) return lessons[i];
    return NULL;
}

bool tg_lesson_picture_format_ok(const tg_lesson *l, const char *path) {
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (!l || !dot || strchr(dot, '/')) return false;
    size_t n = strlen(dot);
    for (const char *f = strstr(l->picture_formats, dot); f; f = strstr(f + 1, dot))
        if (f[n] == '\0' || f[n] == ' ') return true;
    return false;
}

void tg_paragraph_add(tg_paragraph *p, const char *fmt, ...) {
    if (p->len >= sizeof p->text - 1) return;
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(p->text + p->len, sizeof p->text - p->len, fmt, args);
    va_end(args);
    if (n > 0) p->len += (size_t)n < sizeof p->text - p->len ? (size_t)n : sizeof p->text - 1 - p->len;
}

void tg_paragraph_print(FILE *out, const tg_paragraph *p) {
    if (!out) return;
    const char *s = p->text;
    int column = 0;
    while (*s) {
        while (*s == ' ') s++;
        size_t word = strcspn(s, " ");
        if (!word) break;
        if (column && column + 1 + (int)word > 78) {
            fputc('\n', out);
            column = 0;
        } else if (column) {
            fputc(' ', out);
            column++;
        }
        fwrite(s, 1, word, out);
        column += (int)word;
        s += word;
    }
    if (column) fputc('\n', out);
}

tg_status tg_lesson_data(const char *name, int64_t n, double held_out, uint64_t seed, tg_dataset **train,
                         tg_dataset **test) {
    *train = *test = NULL;
    tg_dataset *all = tg_dataset_synthetic(name, n, seed);
    tg_status st = all ? tg_dataset_split(all, held_out, seed, train, test) : tg_last_status();
    if (!st) st = tg_dataset_standardize(*train);
    if (!st) st = tg_dataset_standardize_like(*test, *train);
    tg_dataset_free(all); /* the views keep the storage */
    if (st) {
        tg_dataset_free(*train);
        tg_dataset_free(*test);
        *train = *test = NULL;
    }
    return st;
}

bool tg_lesson_sibling_path(const char *plot_path, const char *what, char *out, size_t size) {
    const char *dot = strrchr(plot_path, '.'), *slash = strrchr(plot_path, '/');
    if (!dot || (slash && dot < slash)) dot = plot_path + strlen(plot_path);
    int n = snprintf(out, size, "%.*s-%s%s", (int)(dot - plot_path), plot_path, what, dot);
    return n >= 0 && (size_t)n < size;
}
