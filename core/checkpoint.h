/* Checkpoint files: named records (tensors or raw bytes) closed by an XXH3-64
 * checksum. One format for parameter stores (tg_params_save), optimizer state
 * and whole training runs.
 *
 *   tg_checkpoint *c = tg_checkpoint_new();
 *   tg_checkpoint_add_params(c, params);                 // parameters and buffers
 *   tg_checkpoint_add_bytes(c, "run/epoch", &epoch, sizeof epoch);
 *   if (tg_checkpoint_write(c, "run.tg")) puts(tg_last_error());
 *   tg_checkpoint_free(c);
 *
 *   tg_checkpoint *r = tg_checkpoint_read("run.tg");     // every byte checked
 *   const tg_record *e = tg_checkpoint_find(r, "run/epoch");
 *
 * Writing is atomic: the bytes go to an unnamed temporary file in the target's
 * directory (O_TMPFILE, else a unique mkstemp name), are synced, linked under a
 * unique name and renamed over `path`, and the directory is synced. A crash or
 * a full disk leaves the previous file intact, a killed save leaves no
 * full-size temporary behind (with O_TMPFILE), and concurrent saves to one
 * path each produce a complete file (the last rename wins).
 *
 * Reading checks everything before returning: magic, version, checksum, every
 * name (non-empty, no NUL byte, unique), kind, dtype, shape (overflow
 * included) and size. Numbers are stored in little-endian byte order. */
#ifndef TG_CORE_CHECKPOINT_H
#define TG_CORE_CHECKPOINT_H

#include "core/params.h"
#include "core/tensor.h"

typedef enum tg_record_kind {
    TG_RECORD_PARAM = TG_KIND_PARAM,   /* a trainable tensor of a tg_params store */
    TG_RECORD_BUFFER = TG_KIND_BUFFER, /* a non-trainable tensor of a store */
    TG_RECORD_STATE = 16,              /* an optimizer's per-parameter state tensor */
    TG_RECORD_BYTES = 17               /* raw bytes: counters, RNG state, settings text */
} tg_record_kind;

typedef struct tg_record {
    const char *name;
    tg_record_kind kind;
    tg_dtype dtype;                    /* tensors only */
    int ndim;                          /* tensors only */
    int64_t shape[TG_MAX_DIMS];        /* tensors only */
    const void *data;                  /* `bytes` bytes (a tensor's numel * dtype size); 64-byte aligned
                                          in a checkpoint read from a file */
    size_t bytes;
} tg_record;

typedef struct tg_checkpoint tg_checkpoint;

/* An empty list of records to write (NULL + tg_last_error() if out of memory). */
tg_checkpoint *tg_checkpoint_new(void);
void tg_checkpoint_free(tg_checkpoint *c);   /* NULL is fine */

/* Adds a tensor record. The name is copied; the data is NOT: x must keep its
 * values until tg_checkpoint_write returns. Errors: bad or duplicate name,
 * kind TG_RECORD_BYTES. */
tg_status tg_checkpoint_add_tensor(tg_checkpoint *c, const char *name, tg_record_kind kind, const tg_tensor *x);
/* Adds a bytes record (copied). */
tg_status tg_checkpoint_add_bytes(tg_checkpoint *c, const char *name, const void *data, size_t bytes);
/* Adds every parameter and buffer of p under its own name. */
tg_status tg_checkpoint_add_params(tg_checkpoint *c, const tg_params *p);

/* Writes the records to `path` atomically (see above). */
tg_status tg_checkpoint_write(const tg_checkpoint *c, const char *path);

/* The bytes tg_checkpoint_write would write (of a built or a read
 * checkpoint), in memory: *bytes is malloc'd (free it with free), *size long. */
tg_status tg_checkpoint_to_bytes(const tg_checkpoint *c, void **bytes, size_t *size);

/* Reads and checks a whole file: NULL + tg_last_error() naming the file and
 * what is wrong. The records point into the returned object. */
tg_checkpoint *tg_checkpoint_read(const char *path);
/* The same from bytes in memory (`origin` names them in messages); the bytes
 * are copied. For fuzzing and for callers holding a file's contents. */
tg_checkpoint *tg_checkpoint_parse(const void *bytes, size_t size, const char *origin);

/* The same two, with messages that start with `who` ("tg_params_save: ..."):
 * for the library's own file formats built on checkpoints. */
tg_status tg_checkpoint_write_as(const tg_checkpoint *c, const char *path, const char *who);
tg_checkpoint *tg_checkpoint_read_as(const char *path, const char *who);

int tg_checkpoint_count(const tg_checkpoint *c);
const tg_record *tg_checkpoint_at(const tg_checkpoint *c, int index);          /* in file order */
const tg_record *tg_checkpoint_find(const tg_checkpoint *c, const char *name); /* NULL if absent */
/* The file it was read from, or "" for one being built. */
const char *tg_checkpoint_origin(const tg_checkpoint *c);

/* A bytes record of exactly `size` bytes copied into out: TG_ERR_FORMAT
 * naming the record and the file when absent or of another size. */
tg_status tg_checkpoint_get_bytes(const tg_checkpoint *c, const char *name, void *out, size_t size);

#endif
