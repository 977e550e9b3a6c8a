/* CSV of numbers: a header row or not, one target column (labels or float
 * targets), every other column a feature. The rules are in data/dataset.h. */
#define _POSIX_C_SOURCE 200809L /* newlocale, uselocale */
#include <ctype.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/loaders.h"
#include "data/storage.h"

/* Longest cell read as a number; longer ones are not numbers. */
enum { NUMBER_MAX = 128 };

tg_csv_opts tg_csv_defaults(void) {
    return (tg_csv_opts){.target_index = -1, .header = -1, .task = TG_TASK_CLASSIFICATION, .delimiter = ','};
}

/* One cell of a line: text [start, start + len) with quotes removed; if
 * escaped, "" pairs inside stand for one quote. */
typedef struct cell {
    const char *start;
    size_t len;
    bool escaped;
} cell;

typedef struct reader {
    const char *who, *path;
    const char *next, *end; /* the rest of the file */
    int64_t line_no;        /* of the current line, from 1 */
    const char *line, *line_end;
    char delimiter;
    char **names;           /* header cells, or NULL */
    int64_t columns;        /* of the first row (names has as many) */
} reader;

static bool is_space(const reader *r, char c) { return (c == ' ' || c == '\t') && c != r->delimiter; }

/* The next line that is not blank; false at the end of the file. */
static bool next_line(reader *r) {
    while (r->next < r->end) {
        const char *newline = memchr(r->next, '\n', (size_t)(r->end - r->next));
        r->line = r->next;
        r->line_end = newline ? newline : r->end;
        r->next = newline ? newline + 1 : r->end;
        r->line_no++;
        if (r->line_end > r->line && r->line_end[-1] == '\r') r->line_end--;
        const char *c = r->line;
        while (c < r->line_end && (is_space(r, *c) || *c == '\r')) c++;
        if (c < r->line_end) return true;
    }
    return false;
}

/* "line 3, column 2 (name)" */
static const char *where(const reader *r, int64_t column, char *buf, size_t size) {
    int n = snprintf(buf, size, "line %lld, column %lld", (long long)r->line_no, (long long)column + 1);
    if (r->names && column < r->columns && n > 0 && (size_t)n < size) snprintf(buf + n, size - (size_t)n, " (%s)", r->names[column]);
    return buf;
}

/* Splits the current line into cells: up to max into cells[], returns how
 * many there are (all of them counted), or -1 + error on a bad quote. */
static int64_t split_line(reader *r, cell *cells, int64_t max) {
    const char *c = r->line, *end = r->line_end;
    for (int64_t column = 0;; column++) {
        cell x = {0};
        while (c < end && is_space(r, *c)) c++;
        if (c < end && *c == '"') {
            const char *open = c++;
            x.start = c;
            for (;; c++) {
                if (c >= end) {
                    char at[160];
                    tg_set_error(TG_ERR_FORMAT, "%s: %s: %s: the quote at character %lld does not close on its line",
                                 r->who, r->path, where(r, column, at, sizeof at), (long long)(open - r->line) + 1);
                    return -1;
                }
                if (*c == '"' && c + 1 < end && c[1] == '"') {
                    x.escaped = true;
                    c++;
                } else if (*c == '"') {
                    break;
                }
            }
            x.len = (size_t)(c - x.start);
            c++;
            while (c < end && is_space(r, *c)) c++;
            if (c < end && *c != r->delimiter) {
                char at[160];
                tg_set_error(TG_ERR_FORMAT, "%s: %s: %s: text after the closing quote", r->who, r->path,
                             where(r, column, at, sizeof at));
                return -1;
            }
        } else {
            x.start = c;
            while (c < end && *c != r->delimiter) c++;
            const char *stop = c;
            while (stop > x.start && is_space(r, stop[-1])) stop--;
            x.len = (size_t)(stop - x.start);
        }
        if (column < max) cells[column] = x;
        if (c >= end) return column + 1;
        c++; /* the delimiter: another cell follows, maybe empty */
    }
}

/* The cell's text, unescaped and terminated, into buf (cut at size - 1). */
static void cell_text(const cell *x, char *buf, size_t size) {
    size_t n = 0;
    for (size_t i = 0; i < x->len && n + 1 < size; i++) {
        buf[n++] = x->start[i];
        if (x->escaped && x->start[i] == '"') i++;
    }
    buf[n] = 0;
}

/* The cell's text for a message: at most 40 characters, non-printing ones as '?'. */
static const char *quoted(const cell *x, char *buf, size_t size) {
    char text[48];
    cell shown = *x;
    bool cut = shown.len > 40;
    if (cut) shown.len = 40;
    cell_text(&shown, text, sizeof text);
    for (char *p = text; *p; p++)
        if (!isprint((unsigned char)*p)) *p = '?';
    snprintf(buf, size, "\"%s%s\"", text, cut ? "..." : "");
    return buf;
}

/* Strict decimal: [+-] (digits [. digits] | . digits) [(e|E) [+-] digits],
 * read by strtod in the C locale; false for anything else or a non-finite
 * value (out of double's range). */
static bool parse_number(const cell *x, locale_t c_locale, double *out) {
    char text[NUMBER_MAX];
    if (x->len == 0 || x->len >= sizeof text || x->escaped) return false;
    cell_text(x, text, sizeof text);
    const char *p = text;
    if (*p == '+' || *p == '-') p++;
    size_t digits = strspn(p, "0123456789");
    p += digits;
    if (*p == '.') {
        size_t fraction = strspn(p + 1, "0123456789");
        digits += fraction;
        p += 1 + fraction;
    }
    if (digits == 0) return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        size_t exponent = strspn(p, "0123456789");
        if (exponent == 0) return false;
        p += exponent;
    }
    if (*p) return false;
    locale_t previous = uselocale(c_locale);
    char *stop;
    double v = strtod(text, &stop);
    uselocale(previous);
    if (*stop || !isfinite(v)) return false;
    *out = v;
    return true;
}

/* The parse's allocations, freed together. */
typedef struct csv_work {
    tg_bytes text;
    locale_t c_locale;
    cell *cells;
    char **names;
    double *features, *targets;
    int64_t *labels;
    int64_t sample_shape[1];
} csv_work;

static void work_free(csv_work *w) {
    free(w->text.data);
    if (w->c_locale) freelocale(w->c_locale);
    free(w->cells);
    free(w->names);
    free(w->features);
    free(w->targets);
    free(w->labels);
}

/* The header's cells as names: one allocation, pointers then text. */
static char **header_names(const cell *cells, int64_t m) {
    size_t text = 0;
    for (int64_t j = 0; j < m; j++) text += cells[j].len + 1;
    char **names = malloc(sizeof(char *) * (size_t)m + text);
    if (!names) return NULL;
    char *p = (char *)(names + m);
    for (int64_t j = 0; j < m; j++) {
        names[j] = p;
        cell_text(&cells[j], p, cells[j].len + 1);
        p += strlen(p) + 1;
    }
    return names;
}

/* The target column's index from opts, or -1 + error. */
static int64_t target_column(const reader *r, const tg_csv_opts *opts, int64_t m) {
    if (opts->target_column) {
        if (!r->names) {
            tg_set_error(TG_ERR_ARG, "%s: %s: target column \"%s\" is named, but the file has no header row", r->who,
                         r->path, opts->target_column);
            return -1;
        }
        for (int64_t j = 0; j < m; j++)
            if (strcmp(r->names[j], opts->target_column) == 0) return j;
        char list[512];
        size_t used = 0;
        for (int64_t j = 0; j < m && used + 1 < sizeof list; j++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s\"%s\"", j ? ", " : "", r->names[j]);
        tg_set_error(TG_ERR_ARG, "%s: %s: target column \"%s\" not found in the header (line 1): %s", r->who, r->path,
                     opts->target_column, list);
        return -1;
    }
    int64_t j = opts->target_index < 0 ? m + opts->target_index : opts->target_index;
    if (j < 0 || j >= m) {
        tg_set_error(TG_ERR_ARG, "%s: %s: target column index %d is out of range for %lld columns", r->who, r->path,
                     opts->target_index, (long long)m);
        return -1;
    }
    return j;
}

static tg_status check_opts(const char *who, const tg_csv_opts *o) {
    if (o->task != TG_TASK_CLASSIFICATION && o->task != TG_TASK_REGRESSION)
        return tg_set_error(TG_ERR_ARG, "%s: unknown task %d", who, (int)o->task);
    if (o->header < -1 || o->header > 1)
        return tg_set_error(TG_ERR_ARG, "%s: header %d (use 1 yes, 0 no, -1 detect)", who, o->header);
    if (o->delimiter == '"' || o->delimiter == '\n' || o->delimiter == '\r')
        return tg_set_error(TG_ERR_ARG, "%s: the delimiter cannot be a quote or a line break", who);
    if (o->classes < 0 || o->classes > INT32_MAX)
        return tg_set_error(TG_ERR_ARG, "%s: classes %lld (0: from the labels)", who, (long long)o->classes);
    return TG_OK;
}

/* Parses every data line into w's arrays; returns the row count or -1 + error. */
static int64_t read_rows(reader *r, csv_work *w, const tg_csv_opts *opts, int64_t m, int64_t target,
                         bool first_is_data) {
    int64_t rows = 0, limit = opts->classes ? opts->classes : TG_DATASET_MAX_CLASSES;
    char at[160], text[64];
    for (bool have = first_is_data || next_line(r); have; have = next_line(r)) {
        int64_t k = split_line(r, w->cells, m);
        if (k < 0) return -1;
        if (k != m) {
            tg_set_error(TG_ERR_FORMAT, "%s: %s: line %lld has %lld columns, expected %lld (as the first row)",
                         r->who, r->path, (long long)r->line_no, (long long)k, (long long)m);
            return -1;
        }
        double *row = w->features + rows * (m - 1);
        for (int64_t j = 0; j < m; j++) {
            double v;
            if (!parse_number(&w->cells[j], w->c_locale, &v)) {
                tg_set_error(TG_ERR_FORMAT, "%s: %s: %s: %s is not a number", r->who, r->path,
                             where(r, j, at, sizeof at), quoted(&w->cells[j], text, sizeof text));
                return -1;
            }
            if (j != target) {
                *row++ = v;
            } else if (opts->task == TG_TASK_REGRESSION) {
                w->targets[rows] = v;
            } else if (v != floor(v) || v < 0 || v >= (double)limit) {
                tg_set_error(TG_ERR_FORMAT, "%s: %s: %s: label %s is %s [0, %lld)", r->who, r->path,
                             where(r, j, at, sizeof at), quoted(&w->cells[j], text, sizeof text),
                             v != floor(v) ? "not an integer in" : "out of range", (long long)limit);
                return -1;
            } else {
                w->labels[rows] = (int64_t)v;
            }
        }
        rows++;
    }
    return rows;
}

/* Reads the whole text into w (features, labels or targets) and *parts. */
static tg_status parse(reader *r, csv_work *w, const tg_csv_opts *o, tg_dataset_parts *parts) {
    const char *who = r->who, *path = r->path;
    w->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!w->c_locale) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory for the C locale", who);
    if (!next_line(r)) return tg_set_error(TG_ERR_FORMAT, "%s: %s: the file is empty (no rows)", who, path);
    /* the first row fixes the column count */
    int64_t m = split_line(r, NULL, 0);
    if (m < 0) return TG_ERR_FORMAT;
    if (m < 2)
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: line %lld has 1 column; needs at least 2 (features and a target; the "
                            "delimiter is '%c')",
                            who, path, (long long)r->line_no, r->delimiter);
    r->columns = m;
    w->cells = malloc(sizeof(cell) * (size_t)m);
    if (!w->cells) return tg_set_error(TG_ERR_NOMEM, "%s: %s: out of memory", who, path);
    split_line(r, w->cells, m);
    bool header = o->header == 1;
    for (int64_t j = 0; o->header == -1 && j < m; j++) {
        double v;
        if (!parse_number(&w->cells[j], w->c_locale, &v)) header = true;
    }
    if (header && !(r->names = w->names = header_names(w->cells, m)))
        return tg_set_error(TG_ERR_NOMEM, "%s: %s: out of memory", who, path);
    int64_t target = target_column(r, o, m);
    if (target < 0) return TG_ERR_ARG;
    /* at most one row per line break, plus one */
    size_t max_rows = 1;
    for (const char *p = r->line; (p = memchr(p, '\n', (size_t)(r->end - p))) != NULL; p++) max_rows++;
    w->features = malloc(sizeof(double) * max_rows * (size_t)(m - 1));
    if (o->task == TG_TASK_REGRESSION) w->targets = malloc(sizeof(double) * max_rows);
    else w->labels = malloc(sizeof(int64_t) * max_rows);
    if (!w->features || (!w->targets && !w->labels))
        return tg_set_error(TG_ERR_NOMEM, "%s: %s: out of memory for %zu rows", who, path, max_rows);
    int64_t header_line = r->line_no;
    int64_t rows = read_rows(r, w, o, m, target, !header);
    if (rows < 0) return TG_ERR_FORMAT;
    if (rows == 0)
        return tg_set_error(TG_ERR_FORMAT, "%s: %s: a header row (line %lld) and no data rows", who, path,
                            (long long)header_line);
    w->sample_shape[0] = m - 1;
    *parts = (tg_dataset_parts){.name = tg_path_basename(path),
                                .type = TG_STORAGE_F64,
                                .block = w->features,
                                .data = w->features,
                                .n = rows,
                                .sample_ndim = 1,
                                .sample_shape = w->sample_shape,
                                .labels = w->labels,
                                .classes = o->classes,
                                .targets = w->targets,
                                .n_targets = w->targets ? 1 : 0};
    return TG_OK;
}

tg_dataset *tg_csv_parse(const char *who, const char *path, tg_bytes text, const tg_csv_opts *opts) {
    tg_csv_opts o = opts ? *opts : tg_csv_defaults();
    if (!o.delimiter) o.delimiter = ',';
    csv_work w = {.text = text};
    const char *start = text.data ? (const char *)text.data : "";
    reader r = {.who = who,
                .path = path,
                .next = start,
                .end = start + text.size,
                .delimiter = o.delimiter};
    tg_dataset_parts parts;
    if (check_opts(who, &o) || parse(&r, &w, &o, &parts)) {
        work_free(&w);
        return NULL;
    }
    w.features = w.targets = NULL; /* now the parts' */
    w.labels = NULL;
    work_free(&w);
    return tg_dataset_make(who, parts);
}

tg_dataset *tg_dataset_csv(const char *path, const tg_csv_opts *opts) {
    static const char who[] = "tg_dataset_csv";
    if (!path) {
        tg_set_error(TG_ERR_ARG, "%s: path is NULL", who);
        return NULL;
    }
    tg_bytes text;
    if (tg_read_file(who, path, &text)) return NULL;
    return tg_csv_parse(who, path, text, opts);
}
