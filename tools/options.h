/* Strict option values for every tg subcommand: the whole text must be a
 * number within the option's range, or the command stops with a message
 * naming the option (and exit status 2):
 *
 *   tg demo: --steps expects an integer from 1 to 100000000, got '5x'
 *
 *   int64_t steps;
 *   if (!tg_parse_int("tg demo", "--steps", value, 1, 100000000, &steps)) return 2;
 *
 * No leading or trailing spaces, no trailing characters, no overflow, no
 * infinity or NaN; a seed is any decimal 64-bit unsigned value (no sign). */
#ifndef TG_TOOLS_OPTIONS_H
#define TG_TOOLS_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

bool tg_parse_int(const char *command, const char *option, const char *text, int64_t min, int64_t max,
                  int64_t *out);
bool tg_parse_number(const char *command, const char *option, const char *text, double min, double max,
                     double *out);
bool tg_parse_seed(const char *command, const char *option, const char *text, uint64_t *out);

#endif
