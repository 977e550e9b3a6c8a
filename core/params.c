#define _POSIX_C_SOURCE 200809L /* fileno, fsync, getpid */
#include "core/params.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "core/parallel.h"

struct tg_params {
    tg_tensor **tensors;
    int count, capacity;
    /* tg_params_parallel's segments: store indices and sizes (capacity entries) */
    int *segment_index;
    int64_t *segment_sizes;
};

tg_params *tg_params_new(void) {
    tg_params *p = calloc(1, sizeof *p);
    if (!p) tg_set_error(TG_ERR_NOMEM, "tg_params_new: out of memory");
    return p;
}

static void tensor_free(tg_tensor *x) {
    if (!x) return;
    free(x->data);
    free((char *)x->name);
    free(x);
}

void tg_params_free(tg_params *p) {
    if (!p) return;
    for (int i = 0; i < p->count; i++) {
        tensor_free(p->tensors[i]->grad_storage);
        tensor_free(p->tensors[i]);
    }
    free(p->tensors);
    free(p->segment_index);
    free(p->segment_sizes);
    free(p);
}

static tg_tensor *stored_tensor_new(tg_dtype dtype, int ndim, const int64_t *shape) {
    tg_tensor *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->dtype = dtype;
    x->ndim = ndim;
    for (int i = 0; i < ndim; i++) x->shape[i] = shape[i];
    x->numel = tg_shape_numel(ndim, shape);
    size_t bytes = (size_t)x->numel * tg_dtype_size(dtype);
    bytes = (bytes + 63) & ~(size_t)63;
    x->data = aligned_alloc(64, bytes ? bytes : 64);
    if (!x->data) {
        free(x);
        return NULL;
    }
    memset(x->data, 0, bytes ? bytes : 64);
    return x;
}

static void fan_in_out(const tg_tensor *x, double *fan_in, double *fan_out) {
    if (x->ndim == 0) {
        *fan_in = *fan_out = 1;
        return;
    }
    *fan_out = (double)x->shape[x->ndim - 1];
    *fan_in = x->ndim == 1 ? (double)x->shape[0] : (double)(x->numel / x->shape[x->ndim - 1]);
}

static void initialise(tg_tensor *x, tg_init init, tg_rng *rng) {
    double fan_in, fan_out, bound = 1.0;
    fan_in_out(x, &fan_in, &fan_out);
    if (init == TG_INIT_XAVIER_UNIFORM) bound = sqrt(6.0 / (fan_in + fan_out));
    if (init == TG_INIT_KAIMING_UNIFORM) bound = 1.0 / sqrt(fan_in > 0 ? fan_in : 1);
    for (int64_t i = 0; i < x->numel; i++) {
        double v = 0;
        switch (init) {
        case TG_INIT_ZEROS: v = 0; break;
        case TG_INIT_ONES: v = 1; break;
        case TG_INIT_NORMAL: v = tg_rng_normal(rng); break;
        case TG_INIT_UNIFORM:
        case TG_INIT_XAVIER_UNIFORM:
        case TG_INIT_KAIMING_UNIFORM: v = bound * (2.0 * tg_rng_uniform(rng) - 1.0); break;
        }
        tg_set(x, i, v);
    }
}

static tg_tensor *find(const tg_params *p, const char *name) {
    for (int i = 0; i < p->count; i++)
        if (strcmp(p->tensors[i]->name, name) == 0) return p->tensors[i];
    return NULL;
}

static tg_status add_tensor(tg_params *p, tg_tensor *x) {
    if (p->count == p->capacity) {
        int cap = p->capacity ? p->capacity * 2 : 16;
        tg_tensor **grown = realloc(p->tensors, (size_t)cap * sizeof *grown);
        if (grown) p->tensors = grown;
        int *index = grown ? realloc(p->segment_index, (size_t)cap * sizeof *index) : NULL;
        if (index) p->segment_index = index;
        int64_t *sizes = index ? realloc(p->segment_sizes, (size_t)cap * sizeof *sizes) : NULL;
        if (!sizes) return TG_ERR_NOMEM; /* arrays that grew are kept; capacity stays */
        p->segment_sizes = sizes;
        p->capacity = cap;
    }
    p->tensors[p->count++] = x;
    return TG_OK;
}

static tg_tensor *create(const char *who, tg_params *p, const char *name, tg_dtype dtype, int ndim,
                         const int64_t *shape, tg_init init, tg_rng *rng, bool trainable) {
    if (!p || !name || !*name) {
        tg_set_error(TG_ERR_ARG, "%s: %s", who, !p ? "store is NULL" : "name is NULL or empty");
        return NULL;
    }
    if (dtype != TG_F32 && dtype != TG_F64) {
        tg_set_error(TG_ERR_DTYPE, "%s: '%s': unknown dtype %d", who, name, (int)dtype);
        return NULL;
    }
    if (tg_check_shape(who, ndim, shape)) return NULL;
    if ((unsigned)init > TG_INIT_KAIMING_UNIFORM) {
        tg_set_error(TG_ERR_ARG, "%s: '%s': unknown init %d", who, name, (int)init);
        return NULL;
    }
    bool random = init != TG_INIT_ZEROS && init != TG_INIT_ONES;
    tg_tensor *existing = find(p, name);
    if (existing) {
        char want[200], have[200];
        tg_tensor probe = {.dtype = dtype, .ndim = ndim};
        for (int i = 0; i < ndim; i++) probe.shape[i] = shape[i];
        if (existing->dtype != dtype || !tg_same_shape(existing, &probe) ||
            (existing->kind == TG_KIND_PARAM) != trainable) {
            tg_set_error(TG_ERR_SHAPE, "%s: '%s' exists as %s %s, asked for %s %s", who, name,
                         existing->kind == TG_KIND_PARAM ? "parameter" : "buffer",
                         tg_tensor_desc(existing, have, sizeof have), trainable ? "parameter" : "buffer",
                         tg_tensor_desc(&probe, want, sizeof want));
            return NULL;
        }
        return existing;
    }
    if (random && !rng) {
        tg_set_error(TG_ERR_ARG, "%s: '%s': a random init needs an rng", who, name);
        return NULL;
    }
    tg_tensor *x = stored_tensor_new(dtype, ndim, shape);
    char *name_copy = x ? malloc(strlen(name) + 1) : NULL;
    tg_tensor *grad = x && trainable ? stored_tensor_new(dtype, ndim, shape) : NULL;
    if (!x || !name_copy || (trainable && !grad) || add_tensor(p, x)) {
        tensor_free(x);
        tensor_free(grad);
        free(name_copy);
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory creating '%s'", who, name);
        return NULL;
    }
    strcpy(name_copy, name);
    x->name = name_copy;
    x->kind = trainable ? TG_KIND_PARAM : TG_KIND_BUFFER;
    x->requires_grad = trainable;
    x->keeps_grad = trainable;
    x->grad = x->grad_storage = grad;
    initialise(x, init, rng);
    return x;
}

tg_tensor *tg_param(tg_params *p, const char *name, tg_dtype dtype, int ndim, const int64_t *shape,
                    tg_init init, tg_rng *rng) {
    return create("tg_param", p, name, dtype, ndim, shape, init, rng, true);
}

tg_tensor *tg_buffer(tg_params *p, const char *name, tg_dtype dtype, int ndim, const int64_t *shape,
                     tg_init init, tg_rng *rng) {
    return create("tg_buffer", p, name, dtype, ndim, shape, init, rng, false);
}

tg_tensor *tg_params_get(const tg_params *p, const char *name) { return p && name ? find(p, name) : NULL; }
int tg_params_count(const tg_params *p) { return p ? p->count : 0; }
tg_tensor *tg_params_at(const tg_params *p, int i) { return p && i >= 0 && i < p->count ? p->tensors[i] : NULL; }

/* tg_params_parallel: the segments are the parameters that have a gradient */
typedef struct {
    const tg_params *p;
    tg_param_piece_fn piece;
    void *context;
} params_pieces;

static void param_piece(void *context, int segment, int64_t begin, int64_t end) {
    const params_pieces *pp = context;
    int index = pp->p->segment_index[segment];
    pp->piece(pp->context, index, pp->p->tensors[index], begin, end);
}

void tg_params_parallel(tg_params *p, tg_param_piece_fn piece, void *context) {
    if (!p || !piece) return;
    int n = 0;
    for (int i = 0; i < p->count; i++) {
        tg_tensor *x = p->tensors[i];
        if (x->kind != TG_KIND_PARAM || !x->grad) continue;
        p->segment_index[n] = i;
        p->segment_sizes[n++] = x->numel;
    }
    params_pieces pp = {p, piece, context};
    tg_parallel_segments(n, p->segment_sizes, param_piece, &pp);
}

static void zero_piece(void *context, int index, tg_tensor *x, int64_t begin, int64_t end) {
    (void)context, (void)index;
    size_t es = tg_dtype_size(x->dtype);
    memset((char *)x->grad->data + (size_t)begin * es, 0, (size_t)(end - begin) * es); /* all-zero bits are 0.0 */
}

void tg_zero_grad(tg_params *p) {
    for (int i = 0; p && i < p->count; i++)
        if (p->tensors[i]->grad_storage) p->tensors[i]->grad = p->tensors[i]->grad_storage;
    tg_params_parallel(p, zero_piece, NULL);
}

void tg_set_grad_to_none(tg_params *p) {
    for (int i = 0; p && i < p->count; i++)
        if (p->tensors[i]->grad_storage) p->tensors[i]->grad = NULL;
}

int64_t tg_params_numel(const tg_params *p) {
    int64_t n = 0;
    for (int i = 0; p && i < p->count; i++)
        if (p->tensors[i]->kind == TG_KIND_PARAM) n += p->tensors[i]->numel;
    return n;
}

/* ---- checkpoint file ----
 * "TGPARAMS" | u32 version=1 | u32 count |
 *   count x { u32 name_len | name | u32 kind | u32 dtype | u32 ndim | i64 shape[ndim] | data }
 * | u64 XXH3-64 of every byte before it.  Little-endian host order. */

static const char MAGIC[8] = {'T', 'G', 'P', 'A', 'R', 'A', 'M', 'S'};
enum { CHECKPOINT_VERSION = 1 };

typedef struct {
    FILE *f;
    XXH3_state_t hash;
    int failed;
} writer;

static void put(writer *w, const void *bytes, size_t n) {
    if (w->failed || n == 0) return;
    if (fwrite(bytes, 1, n, w->f) != n) w->failed = 1;
    XXH3_64bits_update(&w->hash, bytes, n);
}

static void put_u32(writer *w, uint32_t v) { put(w, &v, sizeof v); }

/* After the rename, sync the directory so the new name survives a power cut
 * (best effort: the file itself is already complete on disk). */
static void sync_directory_of(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) {
        snprintf(dir, sizeof dir, ".");
    } else if (slash == path) {
        snprintf(dir, sizeof dir, "/");
    } else if ((size_t)(slash - path) < sizeof dir) {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
    } else {
        return;
    }
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

tg_status tg_params_save(const tg_params *p, const char *path) {
    if (!p || !path) return tg_set_error(TG_ERR_ARG, "tg_params_save: store or path is NULL");
    size_t n = strlen(path);
    char *tmp = malloc(n + 16);
    if (!tmp) return tg_set_error(TG_ERR_NOMEM, "tg_params_save: out of memory");
    snprintf(tmp, n + 16, "%s.tmp%ld", path, (long)getpid());
    writer w = {.f = fopen(tmp, "wb")};
    if (!w.f) {
        tg_status st = tg_set_error(TG_ERR_IO, "tg_params_save: cannot write '%s'", tmp);
        free(tmp);
        return st;
    }
    XXH3_64bits_reset(&w.hash);
    put(&w, MAGIC, sizeof MAGIC);
    put_u32(&w, CHECKPOINT_VERSION);
    put_u32(&w, (uint32_t)p->count);
    for (int i = 0; i < p->count; i++) {
        const tg_tensor *x = p->tensors[i];
        put_u32(&w, (uint32_t)strlen(x->name));
        put(&w, x->name, strlen(x->name));
        put_u32(&w, (uint32_t)x->kind);
        put_u32(&w, (uint32_t)x->dtype);
        put_u32(&w, (uint32_t)x->ndim);
        put(&w, x->shape, sizeof(int64_t) * (size_t)x->ndim);
        put(&w, x->data, (size_t)x->numel * tg_dtype_size(x->dtype));
    }
    uint64_t digest = XXH3_64bits_digest(&w.hash);
    if (!w.failed && fwrite(&digest, sizeof digest, 1, w.f) != 1) w.failed = 1;
    if (!w.failed && fflush(w.f) != 0) w.failed = 1;
    if (!w.failed && fsync(fileno(w.f)) != 0) w.failed = 1;
    if (fclose(w.f) != 0) w.failed = 1;
    if (w.failed || rename(tmp, path) != 0) {
        remove(tmp);
        free(tmp);
        return tg_set_error(TG_ERR_IO, "tg_params_save: writing '%s' failed; the previous file is untouched", path);
    }
    free(tmp);
    sync_directory_of(path);
    return TG_OK;
}

typedef struct {
    const unsigned char *p, *end;
} reader;

static int take(reader *r, void *out, size_t n) {
    if ((size_t)(r->end - r->p) < n) return 0;
    memcpy(out, r->p, n);
    r->p += n;
    return 1;
}

typedef struct {
    char *name;
    uint32_t kind, dtype, ndim;
    int64_t shape[TG_MAX_DIMS];
    const unsigned char *data;
} entry;

static tg_status parse(const char *path, const unsigned char *buf, size_t size, entry **out, uint32_t *count) {
    if (size < sizeof MAGIC + 8 + 8 || memcmp(buf, MAGIC, sizeof MAGIC) != 0)
        return tg_set_error(TG_ERR_FORMAT, "tg_params_load: '%s' is not a tapegrad checkpoint", path);
    uint64_t stored;
    memcpy(&stored, buf + size - 8, 8);
    if (XXH3_64bits(buf, size - 8) != stored)
        return tg_set_error(TG_ERR_FORMAT, "tg_params_load: '%s' is corrupt (checksum mismatch)", path);
    reader r = {buf + sizeof MAGIC, buf + size - 8};
    uint32_t version;
    take(&r, &version, 4);
    if (version != CHECKPOINT_VERSION)
        return tg_set_error(TG_ERR_FORMAT, "tg_params_load: '%s' has version %u, this build reads %d", path,
                            version, CHECKPOINT_VERSION);
    take(&r, count, 4);
    if (*count > (uint32_t)(size / 16))
        return tg_set_error(TG_ERR_FORMAT, "tg_params_load: '%s' is corrupt (entry count)", path);
    entry *entries = calloc(*count ? *count : 1, sizeof *entries);
    if (!entries) return tg_set_error(TG_ERR_NOMEM, "tg_params_load: out of memory");
    *out = entries;
    for (uint32_t i = 0; i < *count; i++) {
        entry *e = &entries[i];
        uint32_t name_len;
        if (!take(&r, &name_len, 4) || name_len == 0 || name_len > (size_t)(r.end - r.p))
            return tg_set_error(TG_ERR_FORMAT, "tg_params_load: '%s' is corrupt (entry %u)", path, i);
        e->name = calloc(name_len + 1, 1);
        if (!e->name) return tg_set_error(TG_ERR_NOMEM, "tg_params_load: out of memory");
        take(&r, e->name, name_len);
        if (!take(&r, &e->kind, 4) || !take(&r, &e->dtype, 4) || !take(&r, &e->ndim, 4) ||
            (e->kind != TG_KIND_PARAM && e->kind != TG_KIND_BUFFER) || e->dtype > TG_F64 ||
            e->ndim > TG_MAX_DIMS || !take(&r, e->shape, sizeof(int64_t) * e->ndim) ||
            tg_check_shape("tg_params_load", (int)e->ndim, e->shape))
            return tg_set_error(TG_ERR_FORMAT, "tg_params_load: '%s' is corrupt (entry '%s')", path, e->name);
        size_t bytes = (size_t)tg_shape_numel((int)e->ndim, e->shape) * tg_dtype_size((tg_dtype)e->dtype);
        if ((size_t)(r.end - r.p) < bytes)
            return tg_set_error(TG_ERR_FORMAT, "tg_params_load: '%s' is truncated in '%s'", path, e->name);
        e->data = r.p;
        r.p += bytes;
    }
    if (r.p != r.end) return tg_set_error(TG_ERR_FORMAT, "tg_params_load: '%s' has trailing bytes", path);
    return TG_OK;
}

static tg_status check_against_store(const char *path, const tg_params *p, const entry *e) {
    tg_tensor *x = find(p, e->name);
    if (!x) return TG_OK;
    tg_tensor probe = {.dtype = (tg_dtype)e->dtype, .ndim = (int)e->ndim};
    memcpy(probe.shape, e->shape, sizeof(int64_t) * e->ndim);
    if (x->dtype != probe.dtype || !tg_same_shape(x, &probe)) {
        char have[200], want[200];
        return tg_set_error(TG_ERR_SHAPE, "tg_params_load: '%s' in '%s' is %s, the store has %s", e->name, path,
                            tg_tensor_desc(&probe, want, sizeof want), tg_tensor_desc(x, have, sizeof have));
    }
    if ((uint32_t)x->kind != e->kind)
        return tg_set_error(TG_ERR_FORMAT, "tg_params_load: '%s' in '%s' is a %s, the store has a %s", e->name, path,
                            e->kind == TG_KIND_PARAM ? "parameter" : "buffer",
                            x->kind == TG_KIND_PARAM ? "parameter" : "buffer");
    return TG_OK;
}

tg_status tg_params_load(tg_params *p, const char *path) {
    if (!p || !path) return tg_set_error(TG_ERR_ARG, "tg_params_load: store or path is NULL");
    FILE *f = fopen(path, "rb");
    if (!f) return tg_set_error(TG_ERR_IO, "tg_params_load: cannot open '%s'", path);
    unsigned char *buf = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size >= 0 && fseek(f, 0, SEEK_SET) == 0) buf = malloc((size_t)size + 1);
    tg_status st = TG_OK;
    if (size < 0 || !buf || fread(buf, 1, (size_t)size, f) != (size_t)size)
        st = tg_set_error(TG_ERR_IO, "tg_params_load: cannot read '%s'", path);
    fclose(f);

    entry *entries = NULL;
    uint32_t count = 0;
    if (!st) st = parse(path, buf, (size_t)size, &entries, &count);
    for (uint32_t i = 0; !st && i < count; i++) st = check_against_store(path, p, &entries[i]);
    /* everything checked: now change values */
    for (uint32_t i = 0; !st && i < count; i++) {
        entry *e = &entries[i];
        tg_tensor *x = find(p, e->name);
        if (!x) {
            x = create("tg_params_load", p, e->name, (tg_dtype)e->dtype, (int)e->ndim, e->shape, TG_INIT_ZEROS, NULL,
                       e->kind == TG_KIND_PARAM);
            if (!x) st = TG_ERR_NOMEM;
        }
        if (x) {
            memcpy(x->data, e->data, (size_t)x->numel * tg_dtype_size(x->dtype));
            tg_tensor_bump_version(x);
        }
    }
    for (uint32_t i = 0; entries && i < count; i++) free(entries[i].name);
    free(entries);
    free(buf);
    return st;
}
