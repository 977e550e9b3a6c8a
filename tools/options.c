/* Strict number parsing for tg's options (see options.h). */
#include "tools/options.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* strto* skip leading spaces and accept a sign: the text must start with a
 * digit, or (when signed) a '-' or '+' and a digit, or for a real a '.' */
static bool starts_like_a_number(const char *text, bool sign, bool real) {
    if (!text) return false;
    if (sign && (*text == '-' || *text == '+')) text++;
    return isdigit((unsigned char)*text) || (real && *text == '.' && isdigit((unsigned char)text[1]));
}

bool tg_parse_int(const char *command, const char *option, const char *text, int64_t min, int64_t max,
                  int64_t *out) {
    char *end = NULL;
    long long v = 0;
    if (starts_like_a_number(text, true, false)) {
        errno = 0;
        v = strtoll(text, &end, 10);
    }
    if (!end || *end != '\0' || errno == ERANGE || v < min || v > max) {
        fprintf(stderr, "%s: %s expects an integer from %" PRId64 " to %" PRId64 ", got '%s'\n", command, option,
                min, max, text ? text : "");
        return false;
    }
    *out = v;
    return true;
}

bool tg_parse_number(const char *command, const char *option, const char *text, double min, double max,
                     double *out) {
    char *end = NULL;
    double v = 0;
    if (starts_like_a_number(text, true, true)) {
        errno = 0;
        v = strtod(text, &end);
    }
    if (!end || *end != '\0' || errno == ERANGE || !isfinite(v) || v < min || v > max) {
        fprintf(stderr, "%s: %s expects a number from %g to %g, got '%s'\n", command, option, min, max,
                text ? text : "");
        return false;
    }
    *out = v;
    return true;
}

bool tg_parse_seed(const char *command, const char *option, const char *text, uint64_t *out) {
    char *end = NULL;
    unsigned long long v = 0;
    if (starts_like_a_number(text, false, false)) {
        errno = 0;
        v = strtoull(text, &end, 10);
    }
    if (!end || *end != '\0' || errno == ERANGE) {
        fprintf(stderr, "%s: %s expects an integer from 0 to %" PRIu64 ", got '%s'\n", command, option, UINT64_MAX,
                text ? text : "");
        return false;
    }
    *out = v;
    return true;
}
