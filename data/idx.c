/* IDX files (MNIST, Fashion-MNIST): a big-endian header
 *   00 00 TT DD, then DD dimensions as u32, then the elements (big-endian),
 * images [N, ...] and labels [N]. u8 images stay as the file's bytes. */
#define _POSIX_C_SOURCE 200809L /* access */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/loaders.h"
#include "data/storage.h"

/* What one IDX header says. */
typedef struct idx_header {
    int type;          /* 0x08 ... 0x0E */
    int ndim;
    int64_t dims[256];
    size_t data_offset; /* 4 + 4 ndim */
    size_t elem_size;
} idx_header;

static const char *type_name(int type) {
    switch (type) {
    case 0x08: return "u8";
    case 0x09: return "i8";
    case 0x0B: return "i16";
    case 0x0C: return "i32";
    case 0x0D: return "f32";
    case 0x0E: return "f64";
    }
    return NULL;
}

static size_t type_size(int type) {
    return type == 0x0B ? 2 : type == 0x0C || type == 0x0D ? 4 : type == 0x0E ? 8 : 1;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t be64(const unsigned char *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }

/* Element i as a double (integers exactly; f32/f64 as stored). */
static double element(int type, const unsigned char *p, int64_t i) {
    switch (type) {
    case 0x08: return p[i];
    case 0x09: return (int8_t)p[i];
    case 0x0B: return (int16_t)(uint16_t)(p[2 * i] << 8 | p[2 * i + 1]);
    case 0x0C: return (int32_t)be32(p + 4 * i);
    case 0x0D: {
        uint32_t bits = be32(p + 4 * i);
        float v;
        memcpy(&v, &bits, sizeof v);
        return v;
    }
    default: {
        uint64_t bits = be64(p + 8 * i);
        double v;
        memcpy(&v, &bits, sizeof v);
        return v;
    }
    }
}

/* " (inflated)" after offsets into gunzipped bytes */
static const char *inflated(const tg_bytes *b) { return b->was_gzip ? " of the inflated data" : ""; }

/* Reads and checks the header of b against its size: magic, element type,
 * dimensions, and exactly the bytes the dimensions need. */
static tg_status read_header(const char *who, const char *path, const tg_bytes *b, idx_header *h) {
    const unsigned char *p = b->data;
    if (b->size < 4)
        return tg_set_error(TG_ERR_FORMAT, "%s: %s: %zu bytes%s, too short for the 4 bytes of an IDX magic number",
                            who, path, b->size, inflated(b));
    if (p[0] != 0 || p[1] != 0 || !type_name(p[2]) || p[3] == 0)
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: bad IDX magic number %02x %02x %02x %02x at byte offset 0%s (expected 00 00, "
                            "a type 08 u8, 09 i8, 0b i16, 0c i32, 0d f32 or 0e f64, and the dimension count, "
                            "e.g. 00 00 08 03 for u8 images, 00 00 08 01 for labels)",
                            who, path, p[0], p[1], p[2], p[3], inflated(b));
    h->type = p[2];
    h->ndim = p[3];
    h->elem_size = type_size(h->type);
    h->data_offset = 4 + 4 * (size_t)h->ndim;
    if (b->size < h->data_offset)
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: truncated IDX header: %d dimensions need %zu bytes, the data ends at byte "
                            "offset %zu%s",
                            who, path, h->ndim, h->data_offset, b->size, inflated(b));
    uint64_t elements = 1;
    bool too_big = false;
    for (int d = 0; d < h->ndim; d++) {
        h->dims[d] = be32(p + 4 + 4 * d);
        if (h->dims[d] && elements > (uint64_t)INT64_MAX / 16 / (uint64_t)h->dims[d]) too_big = true;
        else elements *= (uint64_t)h->dims[d];
    }
    char shape[200];
    tg_shape_str(h->ndim < TG_MAX_DIMS ? h->ndim : TG_MAX_DIMS, h->dims, shape, sizeof shape);
    uint64_t need = too_big ? UINT64_MAX : h->data_offset + elements * h->elem_size;
    if (need > b->size)
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: missing bytes: the header's %s %s%s needs %llu bytes, the data ends at byte "
                            "offset %zu%s",
                            who, path, type_name(h->type), shape, h->ndim > TG_MAX_DIMS ? "..." : "",
                            (unsigned long long)need, b->size, inflated(b));
    if (need < b->size)
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: %zu trailing bytes from byte offset %llu%s: the header's %s %s needs %llu bytes",
                            who, path, b->size - (size_t)need, (unsigned long long)need, inflated(b),
                            type_name(h->type), shape, (unsigned long long)need);
    return TG_OK;
}

static tg_status check_images_header(const char *who, const char *path, const idx_header *h) {
    if (h->ndim < 2 || h->ndim > TG_MAX_DIMS + 1)
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: images have %d dimension%s (magic 00 00 %02x %02x); expected [N, ...] with 2 "
                            "to %d%s",
                            who, path, h->ndim, h->ndim == 1 ? "" : "s", h->type, h->ndim, TG_MAX_DIMS + 1,
                            h->ndim == 1 ? " (is this the labels file?)" : "");
    return TG_OK;
}

static tg_status check_labels_header(const char *who, const char *path, const idx_header *h) {
    if (h->ndim != 1)
        return tg_set_error(TG_ERR_FORMAT, "%s: %s: labels have %d dimensions (magic 00 00 %02x %02x); expected 1 "
                                           "(00 00 08 01)%s",
                            who, path, h->ndim, h->type, h->ndim, h->ndim > 1 ? " (is this the images file?)" : "");
    if (h->type == 0x0D || h->type == 0x0E)
        return tg_set_error(TG_ERR_FORMAT, "%s: %s: labels of type %s; class labels must be integers", who, path,
                            type_name(h->type));
    return TG_OK;
}

/* Labels as int64, each in [0, limit). */
static int64_t *decode_labels(const char *who, const char *path, const tg_bytes *b, const idx_header *h,
                              int64_t limit) {
    int64_t n = h->dims[0];
    int64_t *labels = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    if (!labels) {
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory for %lld labels", who, (long long)n);
        return NULL;
    }
    const unsigned char *p = b->data + h->data_offset;
    for (int64_t i = 0; i < n; i++) {
        double v = element(h->type, p, i);
        if (v < 0 || v >= (double)limit) {
            tg_set_error(TG_ERR_FORMAT, "%s: %s: label %.0f of sample %lld (byte offset %zu%s) is out of range [0, %lld)",
                         who, path, v, (long long)i, h->data_offset + (size_t)i * h->elem_size, inflated(b),
                         (long long)limit);
            free(labels);
            return NULL;
        }
        labels[i] = (int64_t)v;
    }
    return labels;
}

/* Images as storage: u8 bytes kept in place (value = byte / 255); i8, i16
 * and f32 as f32; i32 and f64 as f64 (all exact); floats must be finite. */
static tg_status decode_images(const char *who, const char *path, tg_bytes *b, const idx_header *h,
                               tg_dataset_parts *parts) {
    size_t count = 1;
    for (int d = 0; d < h->ndim; d++) count *= (size_t)h->dims[d];
    if (h->type == 0x08) {
        parts->type = TG_STORAGE_U8;
        parts->block = b->data;
        parts->data = b->data + h->data_offset;
        parts->value_scale = 1.0 / 255;
        b->data = NULL;
        return TG_OK;
    }
    bool wide = h->type == 0x0C || h->type == 0x0E;
    void *values = malloc((count ? count : 1) * (wide ? sizeof(double) : sizeof(float)));
    if (!values) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory for %zu image elements", who, count);
    const unsigned char *p = b->data + h->data_offset;
    for (size_t i = 0; i < count; i++) {
        double v = element(h->type, p, (int64_t)i);
        if (!isfinite(v)) {
            free(values);
            return tg_set_error(TG_ERR_FORMAT, "%s: %s: element %zu at byte offset %zu%s is %g, not a finite number",
                                who, path, i, h->data_offset + i * h->elem_size, inflated(b), v);
        }
        if (wide) ((double *)values)[i] = v;
        else ((float *)values)[i] = (float)v;
    }
    parts->type = wide ? TG_STORAGE_F64 : TG_STORAGE_F32;
    parts->block = values;
    parts->data = values;
    return TG_OK;
}

tg_dataset *tg_idx_parse(const char *who, const char *name, const char *images_path, tg_bytes images,
                         const char *labels_path, tg_bytes labels, int64_t classes,
                         const char *const *class_names) {
    idx_header ih, lh;
    tg_status st = read_header(who, images_path, &images, &ih);
    if (!st) st = check_images_header(who, images_path, &ih);
    if (!st) st = read_header(who, labels_path, &labels, &lh);
    if (!st) st = check_labels_header(who, labels_path, &lh);
    if (!st && ih.dims[0] != lh.dims[0])
        st = tg_set_error(TG_ERR_FORMAT, "%s: count mismatch: %s has %lld images, %s has %lld labels", who,
                          images_path, (long long)ih.dims[0], labels_path, (long long)lh.dims[0]);
    int64_t *label_values = NULL;
    if (!st) {
        label_values = decode_labels(who, labels_path, &labels, &lh, classes ? classes : TG_DATASET_MAX_CLASSES);
        st = label_values ? TG_OK : TG_ERR_FORMAT;
    }
    free(labels.data);
    tg_dataset_parts parts = {.name = name,
                              .n = ih.dims[0],
                              .sample_ndim = ih.ndim - 1,
                              .sample_shape = ih.dims + 1,
                              .labels = label_values,
                              .classes = classes,
                              .class_names = class_names};
    if (!st) st = decode_images(who, images_path, &images, &ih, &parts);
    free(images.data);
    if (st) {
        free(label_values);
        return NULL;
    }
    return tg_dataset_make(who, parts);
}

/* Reads both files, then parses. */
static tg_dataset *load(const char *who, const char *name, const char *images_path, const char *labels_path,
                        int64_t classes, const char *const *class_names) {
    tg_bytes images, labels = {0};
    if (tg_read_file(who, images_path, &images)) return NULL;
    if (tg_read_file(who, labels_path, &labels)) {
        free(images.data);
        return NULL;
    }
    return tg_idx_parse(who, name, images_path, images, labels_path, labels, classes, class_names);
}

tg_dataset *tg_dataset_idx(const char *images_path, const char *labels_path) {
    static const char who[] = "tg_dataset_idx";
    if (!images_path || !labels_path) {
        tg_set_error(TG_ERR_ARG, "%s: %s is NULL", who, !images_path ? "images_path" : "labels_path");
        return NULL;
    }
    return load(who, tg_path_basename(images_path), images_path, labels_path, 0, NULL);
}

/* dir/stem.gz if it exists, else dir/stem if it exists; false if neither. */
static bool find_file(const char *dir, const char *stem, char *path, size_t size) {
    snprintf(path, size, "%s/%s.gz", dir, stem);
    if (access(path, F_OK) == 0) return true;
    snprintf(path, size, "%s/%s", dir, stem);
    return access(path, F_OK) == 0;
}

tg_dataset *tg_dataset_fashion_mnist(const char *dir, bool train) {
    static const char who[] = "tg_dataset_fashion_mnist";
    static const char *const class_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    if (!dir) dir = TG_FASHION_MNIST_DIR;
    const char *split = train ? "train" : "t10k";
    char stems[2][64], paths[2][4096];
    snprintf(stems[0], sizeof stems[0], "%s-images-idx3-ubyte", split);
    snprintf(stems[1], sizeof stems[1], "%s-labels-idx1-ubyte", split);
    for (int i = 0; i < 2; i++)
        if (!find_file(dir, stems[i], paths[i], sizeof paths[i])) {
            tg_set_error(TG_ERR_IO, "%s: no %s.gz or %s in %s (Debian: apt-get install dataset-fashion-mnist)", who,
                         stems[i], stems[i], dir);
            return NULL;
        }
    return load(who, train ? "fashion-mnist train" : "fashion-mnist test", paths[0], paths[1], 10, class_names);
}
