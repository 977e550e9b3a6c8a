/* Writing an op's attributes as text, for tg_op.describe (private to ops/).
 * A tg_text appends like snprintf: buf always holds what fits (terminated),
 * len counts every character asked for, so a describe hook can
 * `return tg_text_length(&s);` and a caller can retry with a larger buffer.
 *
 *   static int leaky_relu_describe(const tg_node *node, char *buf, size_t size) {
 *       tg_text s = tg_text_on(buf, size);
 *       tg_text_printf(&s, "slope=");
 *       tg_text_number(&s, ATTRS->p);
 *       return tg_text_length(&s);
 *   }
 */
#ifndef TG_OPS_DESCRIBE_H
#define TG_OPS_DESCRIBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tg_text {
    char *buf;
    size_t size, len;
} tg_text;

tg_text tg_text_on(char *buf, size_t size); /* empties buf */
int tg_text_length(const tg_text *s);       /* the length asked for (INT_MAX at most) */
void tg_text_printf(tg_text *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The shortest %g that reads back as v ("0.1", "-1.5", "1e-05"), with '.'
 * as the decimal point whatever the locale: equal texts <=> equal values. */
void tg_text_number(tg_text *s, double v);

/* A reduction's axes (normalised mask of ndim): "axis=1", "axes=0,2", nothing
 * when every axis is reduced; then " keepdim" if kept ("keepdim" alone). */
void tg_text_axes(tg_text *s, int ndim, const bool *reduced, bool keepdim);

/* A (height, width) pair: "stride=2" when both are equal, "stride=2x1" when not. */
void tg_text_pair(tg_text *s, const char *name, const int64_t pair[2]);

/* n index values as "index[n]#" and 8 hex digits of their XXH3 hash (of the
 * values as little-endian int64): the same indices give the same text on
 * every run, wherever the array lives. */
void tg_text_index(tg_text *s, int64_t n, const int64_t *index);

#endif
