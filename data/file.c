/* A file's bytes, inflated through zlib's streaming inflate when gzip: the
 * compressed file is read in chunks, never held whole, and the output buffer
 * is sized from the gzip trailer's length, so a 26 MB .gz of 47 MB costs 47 MB. */
#define _POSIX_C_SOURCE 200809L /* pread, fileno */
#include "data/file.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/pages.h"

enum { CHUNK = 1 << 16 };

/* Input in pieces: a file read chunk by chunk, or one block of memory. */
typedef struct source {
    const char *who, *name;
    FILE *file;                /* NULL: memory */
    unsigned char *chunk;      /* CHUNK bytes for file reads */
    const unsigned char *next; /* unconsumed input */
    size_t avail;
    size_t offset;             /* bytes consumed before next */
    bool eof;
} source;

/* Makes input available if there is more; false at the end or on a read error (status set). */
static tg_status source_fill(source *s) {
    if (s->avail || s->eof) return TG_OK;
    size_t n = fread(s->chunk, 1, CHUNK, s->file);
    if (n < CHUNK) {
        if (ferror(s->file))
            return tg_set_error(TG_ERR_IO, "%s: %s: read error at byte offset %zu: %s", s->who, s->name,
                                s->offset, strerror(errno));
        s->eof = true;
    }
    s->next = s->chunk;
    s->avail = n;
    return TG_OK;
}

/* buf grows to at least need bytes (doubling), within max_size (0: none). */
static tg_status reserve(source *s, unsigned char **buf, size_t *cap, size_t need, size_t max_size) {
    if (need <= *cap) return TG_OK;
    if (max_size && need > max_size)
        return tg_set_error(TG_ERR_FORMAT, "%s: %s: more than %zu bytes of data (the limit)", s->who, s->name,
                            max_size);
    size_t grown = *cap < CHUNK ? CHUNK : *cap;
    while (grown < need) grown = grown > SIZE_MAX / 2 ? need : 2 * grown;
    if (max_size && grown > max_size) grown = max_size;
    unsigned char *bigger = realloc(*buf, grown);
    if (!bigger) return tg_set_error(TG_ERR_NOMEM, "%s: %s: out of memory for %zu bytes", s->who, s->name, grown);
    tg_advise_huge_pages(bigger + *cap, grown - *cap); /* the part not yet touched */
    *buf = bigger;
    *cap = grown;
    return TG_OK;
}

static tg_status copy_all(source *s, size_t size_hint, size_t max_size, tg_bytes *out) {
    unsigned char *buf = NULL;
    size_t cap = 0, used = 0;
    tg_status st = reserve(s, &buf, &cap, size_hint, max_size);
    for (;;) {
        if (!st) st = source_fill(s);
        if (st || !s->avail) break;
        st = reserve(s, &buf, &cap, used + s->avail, max_size);
        if (st) break;
        memcpy(buf + used, s->next, s->avail);
        used += s->avail;
        s->offset += s->avail;
        s->avail = 0;
    }
    if (st) {
        free(buf);
        return st;
    }
    *out = (tg_bytes){.data = buf, .size = used};
    return TG_OK;
}

/* One or more gzip members, each checked (CRC-32 and length) by zlib. */
static tg_status inflate_all(source *s, size_t size_hint, size_t max_size, tg_bytes *out) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) /* 16: gzip wrapper only */
        return tg_set_error(TG_ERR_NOMEM, "%s: %s: out of memory for zlib", s->who, s->name);
    gz_header header; /* header.done: 1 once a member's header was read, -1 if it is not gzip */
    memset(&header, 0, sizeof header);
    inflateGetHeader(&z, &header);
    unsigned char *buf = NULL;
    size_t cap = 0, used = 0, member_start = 0;
    int members = 0;
    bool in_member = true;
    tg_status st = reserve(s, &buf, &cap, size_hint, max_size);
    while (!st) {
        st = source_fill(s);
        if (st) break;
        if (!s->avail) {
            if (!in_member) break; /* every member complete: done */
            if (members > 0 && header.done != 1)
                st = tg_set_error(TG_ERR_FORMAT, "%s: %s: %zu trailing bytes after the gzip data at byte offset %zu",
                                  s->who, s->name, s->offset - member_start, member_start);
            else
                st = tg_set_error(TG_ERR_FORMAT,
                                  "%s: %s: truncated gzip data: the file ends at byte offset %zu inside a gzip "
                                  "member that starts at byte offset %zu (%zu bytes inflated so far)",
                                  s->who, s->name, s->offset, member_start, used);
            break;
        }
        if (!in_member) { /* more input after a complete member: the next member */
            inflateReset(&z);
            memset(&header, 0, sizeof header);
            inflateGetHeader(&z, &header);
            member_start = s->offset;
            in_member = true;
        }
        if (used == cap && (st = reserve(s, &buf, &cap, cap + 1, max_size))) break;
        size_t room = cap - used;
        z.next_in = (unsigned char *)s->next;
        z.avail_in = s->avail > UINT_MAX ? UINT_MAX : (unsigned)s->avail;
        z.next_out = buf + used;
        z.avail_out = room > UINT_MAX ? UINT_MAX : (unsigned)room;
        unsigned given_in = z.avail_in, given_out = z.avail_out;
        int ret = inflate(&z, Z_NO_FLUSH);
        size_t consumed = given_in - z.avail_in;
        s->next += consumed;
        s->avail -= consumed;
        s->offset += consumed;
        used += given_out - z.avail_out;
        if (ret == Z_STREAM_END) {
            members++;
            in_member = false;
        } else if (ret == Z_MEM_ERROR) {
            st = tg_set_error(TG_ERR_NOMEM, "%s: %s: out of memory in zlib", s->who, s->name);
        } else if (ret == Z_DATA_ERROR || ret == Z_NEED_DICT) {
            if (members > 0 && header.done != 1)
                st = tg_set_error(TG_ERR_FORMAT, "%s: %s: trailing bytes after the gzip data at byte offset %zu",
                                  s->who, s->name, member_start);
            else
                st = tg_set_error(TG_ERR_FORMAT, "%s: %s: corrupt gzip data near byte offset %zu: %s", s->who,
                                  s->name, s->offset, z.msg ? z.msg : "invalid data");
        }
        /* Z_OK, Z_BUF_ERROR: more input or more room, which the loop gives */
    }
    inflateEnd(&z);
    if (st) {
        free(buf);
        return st;
    }
    if (cap > used + used / 8 && used) { /* the size hint was too generous (several members) */
        unsigned char *fitted = realloc(buf, used);
        if (fitted) buf = fitted;
    }
    if (!used) {
        free(buf);
        buf = NULL;
    }
    *out = (tg_bytes){.data = buf, .size = used, .was_gzip = true};
    return TG_OK;
}

static bool is_gzip(const unsigned char *p, size_t n) { return n >= 2 && p[0] == 0x1f && p[1] == 0x8b; }

/* The gzip trailer's ISIZE (length mod 2^32 of the last member) as an output
 * size hint, bounded by deflate's best ratio (1032:1) and max_size. */
static size_t gzip_size_hint(const unsigned char trailer[4], size_t compressed, size_t max_size) {
    size_t hint = (size_t)trailer[0] | (size_t)trailer[1] << 8 | (size_t)trailer[2] << 16 | (size_t)trailer[3] << 24;
    size_t bound = compressed > SIZE_MAX / 1032 ? SIZE_MAX : compressed * 1032;
    if (hint > bound) hint = bound;
    if (max_size && hint > max_size) hint = max_size;
    return hint;
}

tg_status tg_read_memory(const char *who, const char *name, const unsigned char *data, size_t size,
                         size_t max_size, tg_bytes *out) {
    memset(out, 0, sizeof *out);
    source s = {.who = who, .name = name, .next = data, .avail = size, .eof = true};
    if (is_gzip(data, size))
        return inflate_all(&s, size >= 4 ? gzip_size_hint(data + size - 4, size, max_size) : 0, max_size, out);
    return copy_all(&s, size, max_size, out);
}

tg_status tg_read_file(const char *who, const char *path, tg_bytes *out) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return tg_set_error(TG_ERR_IO, "%s: cannot open %s: %s", who, path, strerror(errno));
    struct stat st;
    bool stat_ok = fstat(fileno(f), &st) == 0;
    if (!stat_ok || S_ISDIR(st.st_mode)) {
        int error = errno;
        fclose(f);
        return tg_set_error(TG_ERR_IO, "%s: cannot read %s: %s", who, path,
                            stat_ok ? "it is a directory" : strerror(error));
    }
    size_t file_size = S_ISREG(st.st_mode) ? (size_t)st.st_size : 0;
    source s = {.who = who, .name = path, .file = f, .chunk = malloc(CHUNK)};
    tg_status status = s.chunk ? source_fill(&s) : tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    if (!status && is_gzip(s.next, s.avail)) {
        unsigned char trailer[4];
        bool have_trailer = file_size >= 4 && pread(fileno(f), trailer, 4, (off_t)(file_size - 4)) == 4;
        status = inflate_all(&s, have_trailer ? gzip_size_hint(trailer, file_size, 0) : 0, 0, out);
    } else if (!status) {
        status = copy_all(&s, file_size, 0, out);
    }
    free(s.chunk);
    fclose(f);
    return status;
}
