/* libFuzzer target: CSV data sets, plain or gzip, through tg_read_memory and
 * tg_csv_parse, the parser behind tg_dataset_csv. Input: one byte of options
 * (bits 0-1 header detect/no/yes, bit 2 regression, bit 3 ';' as delimiter,
 * bits 4-5 the target column -1, 0, 1 or -2, bit 6 five classes given),
 * then the text. Checks the promises, not only "no crash":
 *   - a refused text gives a non-zero status and a message naming it;
 *   - an accepted one round-trips: its samples written out as CSV (%.17g,
 *     the target in its column) parse back to the same values bit for bit,
 *     labels and targets included; labels lie in [0, classes).
 *
 *   build: cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DTG_FUZZ=ON
 *   run:   sh tools/fuzz.sh (seed corpus tests/fuzz/corpus/csv, dictionary tests/fuzz/csv.dict) */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/loaders.h"
#include "tapegrad.h"
#include "tests/fuzz/fuzzing.h"

enum { MAX_INFLATED = 1 << 24, MAX_CHECKED = 1 << 16 };

/* Every sample's features, and its label or target, as f64 through a gather. */
typedef struct {
    int64_t n, features;
    double *x;       /* [n, features] */
    double *y;       /* [n]: label or target */
} table;

static table read_table(const tg_dataset *ds) {
    table tb = {.n = tg_dataset_len(ds), .features = tg_dataset_features(ds)};
    tb.x = malloc(sizeof(double) * (size_t)(tb.n * tb.features + 1));
    tb.y = malloc(sizeof(double) * (size_t)(tb.n + 1));
    CHECK(tb.x && tb.y);
    tg_tape *t = tg_tape_new();
    CHECK(t);
    tg_batch b;
    CHECK(tg_dataset_gather(t, ds, TG_F64, tb.n, NULL, &b) == TG_OK);
    memcpy(tb.x, b.x->data, sizeof(double) * (size_t)(tb.n * tb.features));
    for (int64_t i = 0; i < tb.n; i++) {
        if (b.labels) {
            CHECK(b.labels[i] >= 0 && b.labels[i] < tg_dataset_classes(ds));
            tb.y[i] = (double)b.labels[i];
        } else {
            CHECK(tg_dataset_targets(ds) == 1);
            tb.y[i] = ((const double *)b.targets->data)[i];
        }
    }
    tg_tape_free(t);
    return tb;
}

static bool same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* The table as CSV without a header: features in order, the target at
 * column `at` (0 .. features). */
static char *write_csv(const table *tb, int at, size_t *size) {
    size_t cap = (size_t)(tb->n * (tb->features + 1)) * 26 + 16, len = 0;
    char *text = malloc(cap);
    CHECK(text);
    for (int64_t i = 0; i < tb->n; i++) {
        for (int64_t c = 0, f = 0; c <= tb->features; c++) {
            double v = c == at ? tb->y[i] : tb->x[i * tb->features + f++];
            len += (size_t)snprintf(text + len, cap - len, "%s%.17g", c ? "," : "", v);
        }
        len += (size_t)snprintf(text + len, cap - len, "\n");
    }
    *size = len;
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned flags = data[0];
    static const int targets[4] = {-1, 0, 1, -2};
    tg_csv_opts opts = tg_csv_defaults();
    opts.header = (flags & 3) == 0 ? -1 : (flags & 3) == 1 ? 0 : 1;
    opts.task = flags & 4 ? TG_TASK_REGRESSION : TG_TASK_CLASSIFICATION;
    opts.delimiter = flags & 8 ? ';' : ',';
    opts.target_index = targets[(flags >> 4) & 3];
    opts.classes = flags & 64 ? 5 : 0;
    tg_bytes text;
    tg_set_error(TG_OK, "%s", "");
    if (tg_read_memory("fuzz_csv", "input.csv", data + 1, size - 1, MAX_INFLATED, &text)) {
        CHECK(tg_last_status() != TG_OK && tg_last_error()[0]);
        return 0;
    }
    tg_set_error(TG_OK, "%s", "");
    tg_dataset *ds = tg_csv_parse("fuzz_csv", "input.csv", text, &opts);
    if (!ds) {
        CHECK(tg_last_status() != TG_OK && tg_last_error()[0]);
        CHECK(strstr(tg_last_error(), "input.csv"));
        return 0;
    }
    int64_t n = tg_dataset_len(ds), features = tg_dataset_features(ds);
    CHECK(n >= 1 && features >= 1);
    if (n * (features + 1) <= MAX_CHECKED) {
        table tb = read_table(ds);
        int columns = (int)features + 1;
        int at = opts.target_index < 0 ? columns + opts.target_index : opts.target_index;
        CHECK(at >= 0 && at < columns);
        size_t written_size;
        char *written = write_csv(&tb, at, &written_size);
        tg_bytes again = {.data = (unsigned char *)written, .size = written_size};
        tg_csv_opts plain = opts;
        plain.header = 0;
        plain.delimiter = ',';
        plain.target_index = at;
        tg_dataset *back = tg_csv_parse("fuzz_csv", "written.csv", again, &plain);
        CHECK(back && tg_dataset_len(back) == n && tg_dataset_features(back) == features);
        CHECK(tg_dataset_classes(back) == tg_dataset_classes(ds));
        table tb2 = read_table(back);
        for (int64_t i = 0; i < n * features; i++) CHECK(same_bits(tb.x[i], tb2.x[i]));
        for (int64_t i = 0; i < n; i++) CHECK(same_bits(tb.y[i], tb2.y[i]));
        free(tb.x);
        free(tb.y);
        free(tb2.x);
        free(tb2.y);
        tg_dataset_free(back);
    }
    tg_dataset_free(ds);
    return 0;
}
