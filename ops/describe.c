/* Writing an op's attributes as text (see ops/describe.h). */
#include "ops/describe.h"

#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

tg_text tg_text_on(char *buf, size_t size) {
    if (buf && size) buf[0] = '\0';
    return (tg_text){buf, buf ? size : 0, 0};
}

int tg_text_length(const tg_text *s) { return s->len > INT_MAX ? INT_MAX : (int)s->len; }

void tg_text_printf(tg_text *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = s->len < s->size ? vsnprintf(s->buf + s->len, s->size - s->len, fmt, ap) : vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n > 0) s->len += (size_t)n;
}

void tg_text_number(tg_text *s, double v) {
    char text[64];
    int digits = 1;
    snprintf(text, sizeof text, "%g", v);
    if (isfinite(v))
        for (; digits <= 17; digits++) {
            snprintf(text, sizeof text, "%.*g", digits, v);
            if (strtod(text, NULL) == v) break;
        }
    /* the locale's decimal point (strtod above reads it back) becomes '.' */
    const char *point = localeconv()->decimal_point;
    size_t point_len = point ? strlen(point) : 0;
    char *at = point_len && strcmp(point, ".") != 0 ? strstr(text, point) : NULL;
    if (at) {
        *at = '.';
        memmove(at + 1, at + point_len, strlen(at + point_len) + 1);
    }
    tg_text_printf(s, "%s", text);
}

void tg_text_axes(tg_text *s, int ndim, const bool *reduced, bool keepdim) {
    int count = 0;
    for (int i = 0; i < ndim; i++) count += reduced[i];
    if (count < ndim) {
        tg_text_printf(s, "%s=", count == 1 ? "axis" : "axes");
        const char *separator = "";
        for (int i = 0; i < ndim; i++)
            if (reduced[i]) tg_text_printf(s, "%s%d", separator, i), separator = ",";
    }
    if (keepdim) tg_text_printf(s, "%skeepdim", count < ndim ? " " : "");
}

void tg_text_pair(tg_text *s, const char *name, const int64_t pair[2]) {
    if (pair[0] == pair[1])
        tg_text_printf(s, "%s=%lld", name, (long long)pair[0]);
    else
        tg_text_printf(s, "%s=%lldx%lld", name, (long long)pair[0], (long long)pair[1]);
}

void tg_text_index(tg_text *s, int64_t n, const int64_t *index) {
    XXH3_state_t state;
    XXH3_64bits_reset(&state);
    unsigned char chunk[8 * 64];
    size_t used = 0;
    for (int64_t i = 0; index && i < n; i++) {
        uint64_t v = (uint64_t)index[i];
        for (int b = 0; b < 8; b++) chunk[used++] = (unsigned char)(v >> (8 * b));
        if (used == sizeof chunk) XXH3_64bits_update(&state, chunk, used), used = 0;
    }
    XXH3_64bits_update(&state, chunk, used);
    tg_text_printf(s, "index[%lld]#%08x", (long long)n, (unsigned)(XXH3_64bits_digest(&state) & 0xffffffffu));
}
