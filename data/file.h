/* Private to data/: a file's bytes in memory, inflated through zlib when
 * they are gzip (recognised by the first bytes 1f 8b, whatever the name). */
#ifndef TG_DATA_FILE_H
#define TG_DATA_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"

typedef struct tg_bytes {
    unsigned char *data; /* malloc'd, the caller frees; NULL when size is 0 */
    size_t size;
    bool was_gzip;       /* the file was gzip: offsets in data are after inflating */
} tg_bytes;

/* The whole of path (plain or gzip, one or more gzip members). Errors, with
 * `who` and the path: cannot open/read (TG_ERR_IO), corrupt or truncated
 * gzip naming the compressed byte offset, trailing bytes after the gzip data
 * (TG_ERR_FORMAT), out of memory. *out is zeroed on error. */
tg_status tg_read_file(const char *who, const char *path, tg_bytes *out);

/* The same from memory: size bytes at data named `name` in messages,
 * inflated when gzip, copied when not; at most max_size bytes of output
 * (0: no limit; more is TG_ERR_FORMAT), so a fuzz target can bound memory. */
tg_status tg_read_memory(const char *who, const char *name, const unsigned char *data, size_t size,
                         size_t max_size, tg_bytes *out);

#endif
