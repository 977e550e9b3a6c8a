/* Checkpoint files (see checkpoint.h).
 *
 * "TGPARAMS" | u32 version (2; 1 is read too) | u32 count |
 *   count x { u32 name_len | name | u32 kind | u32 dtype | u32 ndim | i64 shape[ndim] | data }
 * | u64 XXH3-64 of every byte before it.
 * A bytes record has dtype 0, ndim 1 and shape [bytes]. Version 1 files hold
 * parameters and buffers only. */
#define _GNU_SOURCE /* O_TMPFILE, linkat */
#include "core/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

static const char MAGIC[8] = {'T', 'G', 'P', 'A', 'R', 'A', 'M', 'S'};
enum { VERSION = 2, NAME_MAX_BYTES = 4096 };

struct tg_checkpoint {
    tg_record *records;
    int count, capacity;
    char *origin;               /* the file read, "" when built */
    bool read;                  /* read from a file: names and data are the two blocks below */
    unsigned char *bytes;       /* a read file's contents while it is parsed */
    unsigned char *data;        /* a read file's record data, each record 64-byte aligned */
    char *names;                /* a read file's names, each NUL-terminated */
};

/* ---- building ---- */

tg_checkpoint *tg_checkpoint_new(void) {
    tg_checkpoint *c = calloc(1, sizeof *c);
    char *origin = calloc(1, 1);
    if (!c || !origin) {
        free(c);
        free(origin);
        tg_set_error(TG_ERR_NOMEM, "tg_checkpoint_new: out of memory");
        return NULL;
    }
    c->origin = origin;
    return c;
}

void tg_checkpoint_free(tg_checkpoint *c) {
    if (!c) return;
    if (!c->read) { /* built: names and bytes records are owned one by one */
        for (int i = 0; i < c->count; i++) {
            free((char *)c->records[i].name);
            if (c->records[i].kind == TG_RECORD_BYTES) free((void *)c->records[i].data);
        }
    }
    free(c->records);
    free(c->origin);
    free(c->bytes);
    free(c->data);
    free(c->names);
    free(c);
}

static tg_status check_name(const char *who, const tg_checkpoint *c, const char *name) {
    if (!name || !*name) return tg_set_error(TG_ERR_ARG, "%s: record name is NULL or empty", who);
    if (strlen(name) > NAME_MAX_BYTES)
        return tg_set_error(TG_ERR_ARG, "%s: record name '%.40s...' is longer than %d bytes", who, name,
                            NAME_MAX_BYTES);
    if (tg_checkpoint_find(c, name)) return tg_set_error(TG_ERR_ARG, "%s: two records named '%s'", who, name);
    return TG_OK;
}

/* Appends a record whose name (and, for bytes, data) are copied. */
static tg_status append(const char *who, tg_checkpoint *c, const tg_record *r) {
    if (!c) return tg_set_error(TG_ERR_ARG, "%s: checkpoint is NULL", who);
    if (c->read) return tg_set_error(TG_ERR_STATE, "%s: checkpoint '%s' was read from a file", who, c->origin);
    tg_status st = check_name(who, c, r->name);
    if (st) return st;
    if (c->count == c->capacity) {
        int cap = c->capacity ? c->capacity * 2 : 16;
        tg_record *grown = realloc(c->records, (size_t)cap * sizeof *grown);
        if (!grown) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
        c->records = grown;
        c->capacity = cap;
    }
    char *name = strdup(r->name);
    void *data = NULL;
    if (name && r->kind == TG_RECORD_BYTES) {
        data = malloc(r->bytes ? r->bytes : 1);
        if (data && r->bytes) memcpy(data, r->data, r->bytes);
    }
    if (!name || (r->kind == TG_RECORD_BYTES && !data)) {
        free(name);
        free(data);
        return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    }
    tg_record *slot = &c->records[c->count++];
    *slot = *r;
    slot->name = name;
    if (r->kind == TG_RECORD_BYTES) slot->data = data;
    return TG_OK;
}

tg_status tg_checkpoint_add_tensor(tg_checkpoint *c, const char *name, tg_record_kind kind, const tg_tensor *x) {
    const char *who = "tg_checkpoint_add_tensor";
    if (!x) return tg_set_error(TG_ERR_ARG, "%s: tensor for '%s' is NULL", who, name ? name : "(null)");
    if (kind != TG_RECORD_PARAM && kind != TG_RECORD_BUFFER && kind != TG_RECORD_STATE)
        return tg_set_error(TG_ERR_ARG, "%s: '%s': kind %d is not a tensor kind", who, name ? name : "(null)",
                            (int)kind);
    tg_record r = {.name = name, .kind = kind, .dtype = x->dtype, .ndim = x->ndim, .data = x->data,
                   .bytes = (size_t)x->numel * tg_dtype_size(x->dtype)};
    memcpy(r.shape, x->shape, sizeof r.shape);
    return append(who, c, &r);
}

tg_status tg_checkpoint_add_bytes(tg_checkpoint *c, const char *name, const void *data, size_t bytes) {
    if (!data && bytes) return tg_set_error(TG_ERR_ARG, "tg_checkpoint_add_bytes: data for '%s' is NULL", name);
    tg_record r = {.name = name, .kind = TG_RECORD_BYTES, .ndim = 1, .shape = {(int64_t)bytes}, .data = data,
                   .bytes = bytes};
    return append("tg_checkpoint_add_bytes", c, &r);
}

tg_status tg_checkpoint_add_params(tg_checkpoint *c, const tg_params *p) {
    if (!p) return tg_set_error(TG_ERR_ARG, "tg_checkpoint_add_params: store is NULL");
    for (int i = 0; i < tg_params_count(p); i++) {
        const tg_tensor *x = tg_params_at(p, i);
        tg_status st = tg_checkpoint_add_tensor(c, x->name, (tg_record_kind)x->kind, x);
        if (st) return st;
    }
    return TG_OK;
}

/* ---- writing ---- */

/* Writes to a file descriptor, or into memory (fd < 0: `memory`, sized by
 * file_size beforehand). */
typedef struct {
    int fd;
    unsigned char *memory;
    size_t length;
    XXH3_state_t hash;
    int error; /* errno of the first failed write, 0 if none */
} writer;

static void put(writer *w, const void *bytes, size_t n) {
    if (w->error) return;
    XXH3_64bits_update(&w->hash, bytes, n);
    if (w->fd < 0) {
        if (n) memcpy(w->memory + w->length, bytes, n);
        w->length += n;
        return;
    }
    const char *p = bytes;
    while (n > 0) {
        ssize_t done = write(w->fd, p, n);
        if (done < 0 && errno == EINTR) continue;
        if (done <= 0) {
            w->error = done < 0 ? errno : ENOSPC;
            return;
        }
        p += done;
        n -= (size_t)done;
    }
}

static void put_u32(writer *w, uint32_t v) { put(w, &v, sizeof v); }

static void write_records(writer *w, const tg_checkpoint *c) {
    XXH3_64bits_reset(&w->hash);
    put(w, MAGIC, sizeof MAGIC);
    put_u32(w, VERSION);
    put_u32(w, (uint32_t)c->count);
    for (int i = 0; i < c->count; i++) {
        const tg_record *r = &c->records[i];
        size_t name_len = strlen(r->name);
        put_u32(w, (uint32_t)name_len);
        put(w, r->name, name_len);
        put_u32(w, (uint32_t)r->kind);
        put_u32(w, r->kind == TG_RECORD_BYTES ? 0 : (uint32_t)r->dtype);
        put_u32(w, (uint32_t)r->ndim);
        put(w, r->shape, sizeof(int64_t) * (size_t)r->ndim);
        put(w, r->data, r->bytes);
    }
    uint64_t digest = XXH3_64bits_digest(&w->hash);
    put(w, &digest, sizeof digest);
}

/* The bytes write_records writes: header, records, checksum. */
static size_t file_size(const tg_checkpoint *c) {
    size_t size = sizeof MAGIC + 4 + 4 + 8;
    for (int i = 0; i < c->count; i++)
        size += 4 + strlen(c->records[i].name) + 12 + sizeof(int64_t) * (size_t)c->records[i].ndim + c->records[i].bytes;
    return size;
}

tg_status tg_checkpoint_to_bytes(const tg_checkpoint *c, void **bytes, size_t *size) {
    const char *who = "tg_checkpoint_to_bytes";
    if (!c || !bytes || !size) return tg_set_error(TG_ERR_ARG, "%s: checkpoint, bytes or size is NULL", who);
    *bytes = NULL;
    *size = 0;
    size_t n = file_size(c);
    writer w = {.fd = -1, .memory = malloc(n)};
    if (!w.memory) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory for %zu bytes", who, n);
    write_records(&w, c);
    TG_INVARIANT(w.length == n);
    *bytes = w.memory;
    *size = n;
    return TG_OK;
}

/* The directory part of path: "." for "model.tg". */
static void directory_of(const char *path, char *dir, size_t size) {
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, size, ".");
    else if (slash == path)
        snprintf(dir, size, "/");
    else
        snprintf(dir, size, "%.*s", (int)(slash - path), path);
}

/* After the rename, sync the directory so the new name survives a power cut
 * (best effort: the file itself is already complete on disk). */
static void sync_directory(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Gives the unnamed file `fd` a unique name next to path: "path.tmp<pid>-<n>". */
static int link_unnamed(int fd, const char *path, char *name, size_t size) {
    static _Atomic unsigned counter;
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(name, size, "%s.tmp%ld-%u", path, (long)getpid(), atomic_fetch_add(&counter, 1));
        if (linkat(AT_FDCWD, proc, AT_FDCWD, name, AT_SYMLINK_FOLLOW) == 0) return 0;
        if (errno == EEXIST) continue;
        if (linkat(fd, "", AT_FDCWD, name, AT_EMPTY_PATH) == 0) return 0; /* without /proc */
        if (errno != EEXIST) return -1;
    }
    return -1;
}

static tg_status write_failed(const char *who, const char *path, const char *what, int error) {
    return tg_set_error(TG_ERR_IO, "%s: writing '%s' failed (%s: %s); the previous file is untouched", who, path,
                        what, strerror(error));
}

/* One attempt: unnamed temporary (O_TMPFILE) or a named one (mkstemp). */
static tg_status write_via(const tg_checkpoint *c, const char *path, const char *dir, const char *who,
                           bool unnamed, bool *unsupported) {
    *unsupported = false;
    size_t name_size = strlen(path) + 64;
    char *tmp = malloc(name_size);
    if (!tmp) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    int fd = -1;
    if (unnamed) {
#ifdef O_TMPFILE
        fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
#endif
        if (fd < 0) { /* no O_TMPFILE here: the caller retries with mkstemp, which names any real error */
            *unsupported = true;
            free(tmp);
            return TG_ERR_UNSUPPORTED;
        }
        tmp[0] = '\0';
    } else {
        snprintf(tmp, name_size, "%s.tmpXXXXXX", path);
        fd = mkstemp(tmp);
        if (fd >= 0) fchmod(fd, 0644);
    }
    if (fd < 0) {
        int error = errno;
        free(tmp);
        return tg_set_error(TG_ERR_IO, "%s: cannot create a temporary file in '%s' to write '%s': %s", who, dir,
                            path, strerror(error));
    }
    writer w = {.fd = fd};
    write_records(&w, c);
    const char *what = "write";
    if (!w.error && fsync(fd) != 0) {
        w.error = errno;
        what = "fsync";
    }
    if (!w.error && unnamed && link_unnamed(fd, path, tmp, name_size) != 0) {
        w.error = errno;
        what = "link";
        *unsupported = true; /* no way to name it: retry with mkstemp */
    }
    if (close(fd) != 0 && !w.error) {
        w.error = errno;
        what = "close";
    }
    if (!w.error && rename(tmp, path) != 0) {
        w.error = errno;
        what = "rename";
    }
    if (w.error) {
        if (tmp[0]) unlink(tmp);
        free(tmp);
        return write_failed(who, path, what, w.error);
    }
    free(tmp);
    sync_directory(dir);
    return TG_OK;
}

tg_status tg_checkpoint_write_as(const tg_checkpoint *c, const char *path, const char *who) {
    if (!c || !path || !*path) return tg_set_error(TG_ERR_ARG, "%s: checkpoint or path is NULL or empty", who);
    char *dir = malloc(strlen(path) + 2);
    if (!dir) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    directory_of(path, dir, strlen(path) + 2);
    bool unsupported;
    tg_status st = write_via(c, path, dir, who, true, &unsupported);
    if (st && unsupported) st = write_via(c, path, dir, who, false, &unsupported);
    free(dir);
    return st;
}

tg_status tg_checkpoint_write(const tg_checkpoint *c, const char *path) {
    return tg_checkpoint_write_as(c, path, "tg_checkpoint_write");
}

/* ---- reading ---- */

typedef struct {
    const unsigned char *p, *end;
} reader;

static bool take(reader *r, void *out, size_t n) {
    if ((size_t)(r->end - r->p) < n) return false;
    memcpy(out, r->p, n);
    r->p += n;
    return true;
}

static int by_name(const void *a, const void *b) {
    return strcmp((*(const tg_record *const *)a)->name, (*(const tg_record *const *)b)->name);
}

/* Unique names: sort pointers by name and compare neighbours (n log n). */
static tg_status check_unique(const char *who, const tg_checkpoint *c) {
    if (c->count < 2) return TG_OK;
    const tg_record **sorted = malloc(sizeof *sorted * (size_t)c->count);
    if (!sorted) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    for (int i = 0; i < c->count; i++) sorted[i] = &c->records[i];
    qsort(sorted, (size_t)c->count, sizeof *sorted, by_name);
    tg_status st = TG_OK;
    for (int i = 1; i < c->count && !st; i++)
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0)
            st = tg_set_error(TG_ERR_FORMAT, "%s: '%s' is corrupt (two records named '%s')", who, c->origin,
                              sorted[i]->name);
    free(sorted);
    return st;
}

#define CORRUPT(...) (tg_set_error(TG_ERR_FORMAT, __VA_ARGS__), TG_ERR_FORMAT)

/* Fills c->records from c->bytes (size bytes), checking everything. */
static tg_status parse_records(const char *who, tg_checkpoint *c, size_t size) {
    const unsigned char *buf = c->bytes;
    const char *origin = c->origin;
    if (size < sizeof MAGIC + 8 + 8 || memcmp(buf, MAGIC, sizeof MAGIC) != 0)
        return CORRUPT("%s: '%s' is not a tapegrad checkpoint", who, origin);
    uint64_t stored;
    memcpy(&stored, buf + size - 8, 8);
    if (XXH3_64bits(buf, size - 8) != stored)
        return CORRUPT("%s: '%s' is corrupt (checksum mismatch)", who, origin);
    reader r = {buf + sizeof MAGIC, buf + size - 8};
    uint32_t version, count;
    take(&r, &version, 4);
    take(&r, &count, 4);
    if (version != 1 && version != VERSION)
        return CORRUPT("%s: '%s' has version %u, this build reads 1 and %d", who, origin, version, VERSION);
    /* every record takes at least 16 bytes: a count beyond that is a lie */
    if (count > (size_t)(r.end - r.p) / 16) return CORRUPT("%s: '%s' is corrupt (record count %u)", who, origin, count);
    c->records = calloc(count ? count : 1, sizeof *c->records);
    c->names = malloc((size_t)(r.end - r.p) + count + 1); /* names are shorter than the file */
    if (!c->records || !c->names) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory reading '%s'", who, origin);
    char *names = c->names;
    for (uint32_t i = 0; i < count; i++) {
        tg_record *e = &c->records[i];
        size_t offset = (size_t)(r.p - buf);
        uint32_t name_len, kind, dtype, ndim;
        if (!take(&r, &name_len, 4) || name_len == 0 || name_len > NAME_MAX_BYTES || name_len > (size_t)(r.end - r.p))
            return CORRUPT("%s: '%s' is corrupt (record %u at byte %zu: bad name length)", who, origin, i, offset);
        if (memchr(r.p, '\0', name_len))
            return CORRUPT("%s: '%s' is corrupt (record %u at byte %zu: name contains a NUL byte)", who, origin, i,
                           offset);
        take(&r, names, name_len);
        names[name_len] = '\0';
        e->name = names;
        names += name_len + 1;
        if (!take(&r, &kind, 4) || !take(&r, &dtype, 4) || !take(&r, &ndim, 4))
            return CORRUPT("%s: '%s' is truncated in record '%s'", who, origin, e->name);
        bool known = kind == TG_RECORD_PARAM || kind == TG_RECORD_BUFFER ||
                     (version >= 2 && (kind == TG_RECORD_STATE || kind == TG_RECORD_BYTES));
        if (!known) return CORRUPT("%s: '%s' is corrupt (record '%s' has kind %u)", who, origin, e->name, kind);
        e->kind = (tg_record_kind)kind;
        if (kind == TG_RECORD_BYTES ? (dtype != 0 || ndim != 1) : (dtype > TG_F64 || ndim > TG_MAX_DIMS))
            return CORRUPT("%s: '%s' is corrupt (record '%s': dtype %u, %u dimensions)", who, origin, e->name, dtype,
                           ndim);
        e->dtype = (tg_dtype)dtype;
        e->ndim = (int)ndim;
        if (!take(&r, e->shape, sizeof(int64_t) * ndim))
            return CORRUPT("%s: '%s' is truncated in record '%s'", who, origin, e->name);
        if (kind == TG_RECORD_BYTES) {
            if (e->shape[0] < 0) return CORRUPT("%s: '%s' is corrupt (record '%s': size)", who, origin, e->name);
            e->bytes = (size_t)e->shape[0];
        } else {
            if (tg_check_shape("shape", e->ndim, e->shape)) {
                char why[200]; /* copied: tg_last_error() is about to be rewritten */
                snprintf(why, sizeof why, "%s", tg_last_error());
                return CORRUPT("%s: '%s' is corrupt (record '%s': %s)", who, origin, e->name, why);
            }
            e->bytes = (size_t)tg_shape_numel(e->ndim, e->shape) * tg_dtype_size(e->dtype);
        }
        if ((size_t)(r.end - r.p) < e->bytes)
            return CORRUPT("%s: '%s' is truncated in record '%s' (%zu bytes of data, %zu left)", who, origin, e->name,
                           e->bytes, (size_t)(r.end - r.p));
        e->data = r.p;
        r.p += e->bytes;
        c->count = (int)i + 1;
    }
    if (r.p != r.end)
        return CORRUPT("%s: '%s' is corrupt (%zu bytes after the last record)", who, origin, (size_t)(r.end - r.p));
    return check_unique(who, c);
}

/* Copies every record's data out of the file's bytes into one block where
 * each starts on a 64-byte boundary (a reader may use data as float * or
 * double *), then frees the file's bytes. */
static tg_status align_records(const char *who, tg_checkpoint *c) {
    size_t total = 0;
    for (int i = 0; i < c->count; i++) total += (c->records[i].bytes + 63) & ~(size_t)63; /* <= the file's size */
    c->data = aligned_alloc(64, total ? total : 64);
    if (!c->data) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory reading '%s'", who, c->origin);
    size_t offset = 0;
    for (int i = 0; i < c->count; i++) {
        tg_record *e = &c->records[i];
        if (e->bytes) memcpy(c->data + offset, e->data, e->bytes);
        e->data = c->data + offset;
        offset += (e->bytes + 63) & ~(size_t)63;
    }
    free(c->bytes);
    c->bytes = NULL;
    return TG_OK;
}

/* Takes ownership of bytes (size of them, malloc'd). */
static tg_checkpoint *parse_owned(const char *who, unsigned char *bytes, size_t size, const char *origin) {
    tg_checkpoint *c = calloc(1, sizeof *c);
    char *origin_copy = strdup(origin ? origin : "(memory)");
    if (!c || !origin_copy) {
        free(c);
        free(origin_copy);
        free(bytes);
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
        return NULL;
    }
    c->origin = origin_copy;
    c->read = true;
    c->bytes = bytes;
    if (parse_records(who, c, size) || align_records(who, c)) {
        tg_checkpoint_free(c);
        return NULL;
    }
    return c;
}

tg_checkpoint *tg_checkpoint_parse(const void *bytes, size_t size, const char *origin) {
    const char *who = "tg_checkpoint_parse";
    if (!bytes && size) {
        tg_set_error(TG_ERR_ARG, "%s: bytes are NULL", who);
        return NULL;
    }
    unsigned char *copy = malloc(size ? size : 1);
    if (!copy) {
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory for %zu bytes", who, size);
        return NULL;
    }
    if (size) memcpy(copy, bytes, size);
    return parse_owned(who, copy, size, origin);
}

tg_checkpoint *tg_checkpoint_read_as(const char *path, const char *who) {
    if (!path) {
        tg_set_error(TG_ERR_ARG, "%s: path is NULL", who);
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        tg_set_error(TG_ERR_IO, "%s: cannot open '%s': %s", who, path, strerror(errno));
        return NULL;
    }
    struct stat info;
    unsigned char *bytes = NULL;
    size_t size = 0, done = 0;
    int error = 0;
    if (fstat(fd, &info) != 0) error = errno;
    else if (!S_ISREG(info.st_mode)) error = EISDIR;
    else if (!(bytes = malloc((size = (size_t)info.st_size) ? size : 1))) error = ENOMEM;
    while (!error && done < size) {
        ssize_t n = read(fd, bytes + done, size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) error = n < 0 ? errno : EIO; /* shrank while read */
        else done += (size_t)n;
    }
    close(fd);
    if (error) {
        free(bytes);
        tg_set_error(error == ENOMEM ? TG_ERR_NOMEM : TG_ERR_IO, "%s: cannot read '%s': %s", who, path,
                     strerror(error));
        return NULL;
    }
    return parse_owned(who, bytes, size, path);
}

tg_checkpoint *tg_checkpoint_read(const char *path) { return tg_checkpoint_read_as(path, "tg_checkpoint_read"); }

/* ---- looking up ---- */

int tg_checkpoint_count(const tg_checkpoint *c) { return c ? c->count : 0; }

const tg_record *tg_checkpoint_at(const tg_checkpoint *c, int index) {
    return c && index >= 0 && index < c->count ? &c->records[index] : NULL;
}

const tg_record *tg_checkpoint_find(const tg_checkpoint *c, const char *name) {
    for (int i = 0; c && name && i < c->count; i++)
        if (strcmp(c->records[i].name, name) == 0) return &c->records[i];
    return NULL;
}

const char *tg_checkpoint_origin(const tg_checkpoint *c) { return c ? c->origin : ""; }

tg_status tg_checkpoint_get_bytes(const tg_checkpoint *c, const char *name, void *out, size_t size) {
    const tg_record *r = tg_checkpoint_find(c, name);
    if (!r || r->kind != TG_RECORD_BYTES || r->bytes != size)
        return tg_set_error(TG_ERR_FORMAT, "tg_checkpoint_get_bytes: '%s' has no %zu-byte record '%s'",
                            tg_checkpoint_origin(c), size, name ? name : "(null)");
    memcpy(out, r->data, size);
    return TG_OK;
}
