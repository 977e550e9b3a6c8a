/* What a lesson prints when run through the registry, for tests to search:
 *   char *text = lesson_output("lr", NULL);        // NULL: the lesson's defaults
 *   assert_non_null(strstr(text, "diverged at step 36"));
 *   free(text);
 * Line breaks become spaces (the readings are wrapped), so a phrase can be
 * found whole. Include first: it asks for open_memstream. */
#ifndef TG_TESTS_LESSON_TESTING_H
#define TG_TESTS_LESSON_TESTING_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* open_memstream */
#endif
#include <stdio.h>
#include <stdlib.h>

#include "testing.h"

static inline char *lesson_output(const char *name, const void *opts) {
    const tg_lesson *l = tg_lesson_find(name);
    assert_non_null(l);
    void *defaults = calloc(1, l->options_size);
    assert_non_null(defaults);
    l->defaults(defaults);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    assert_non_null(out);
    assert_int_equal(l->run(opts ? opts : defaults, out, NULL), TG_OK);
    fclose(out);
    free(defaults);
    for (char *c = text; *c; c++) *c = *c == '\n' ? ' ' : *c;
    return text;
}

#endif
