/* Helpers shared by the DOT tests: the text tg_dot_write produces, its lines,
 * and (built with Graphviz) reading it back with Graphviz's own parser and
 * laying it out, failing on any error or warning. */
#ifndef TG_TESTS_DOT_TESTING_H
#define TG_TESTS_DOT_TESTING_H

#include <stdlib.h>

#include "testing.h"

#ifdef TG_HAVE_GRAPHVIZ
#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>

/* LeakSanitizer: Graphviz 2.4x's dot layout, its font plugins and fontconfig
 * leak on their own; tapegrad's allocations are still checked. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
    return "leak:libgvc.so\nleak:libcgraph.so\nleak:libgvplugin_\nleak:libfontconfig.so\n"
           "leak:libpango\nleak:libcairo.so\nleak:libglib-2.0.so\nleak:libgobject-2.0.so\n";
}
#endif

/* The DOT text tg_dot_write produces, as a malloc'ed string. */
static inline char *dot_of(const tg_tape *t, const tg_tensor *root, const tg_dot_opts *opts) {
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(tg_dot_write(t, root, f, opts), TG_OK);
    long n = ftell(f);
    rewind(f);
    char *text = malloc((size_t)n + 1);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    text[n] = '\0';
    fclose(f);
    return text;
}

/* The line of text that contains fragment (copied into line). */
static inline void line_with(const char *text, const char *fragment, char *line, size_t size) {
    const char *hit = strstr(text, fragment);
    assert_non_null(hit);
    while (hit > text && hit[-1] != '\n') hit--;
    size_t n = strcspn(hit, "\n");
    assert_true(n < size);
    memcpy(line, hit, n);
    line[n] = '\0';
}

#ifdef TG_HAVE_GRAPHVIZ
/* ---- reading back with Graphviz ---- */
static char gv_messages[4096] __attribute__((unused));
static inline int gather_message(char *message) {
    size_t used = strlen(gv_messages);
    snprintf(gv_messages + used, sizeof gv_messages - used, "%s", message);
    return 0;
}

/* Parses text with cgraph; fails the test on any error or warning. */
static inline Agraph_t *parse(const char *text) {
    gv_messages[0] = '\0';
    agusererrf previous = agseterrf(gather_message);
    Agraph_t *g = agmemread(text);
    agseterrf(previous);
    if (!g || gv_messages[0]) print_error("Graphviz: %s\n", gv_messages);
    assert_non_null(g);
    assert_string_equal(gv_messages, "");
    return g;
}

/* Lays out and renders to svg in memory: no warning at all. Returns the svg
 * (malloc'ed) if asked. */
static inline char *render_svg(const char *text, bool keep);
static inline void assert_renders_without_warnings(const char *text) { render_svg(text, false); }

static inline char *render_svg(const char *text, bool keep) {
    static GVC_t *gvc; /* one for the process, as graph/render.c explains */
    if (!gvc) gvc = gvContext();
    Agraph_t *g = parse(text);
    gv_messages[0] = '\0';
    agusererrf previous = agseterrf(gather_message);
    assert_int_equal(gvLayout(gvc, g, "dot"), 0);
    char *svg = NULL;
    unsigned int length = 0;
    assert_int_equal(gvRenderData(gvc, g, "svg", &svg, &length), 0);
    agseterrf(previous);
    assert_true(length > 0);
    assert_string_equal(gv_messages, "");
    char *copy = keep ? malloc((size_t)length + 1) : NULL;
    if (copy) memcpy(copy, svg, length), copy[length] = '\0';
    gvFreeRenderData(svg);
    gvFreeLayout(gvc, g);
    agclose(g);
    return copy;
}

static inline int count_clusters(Agraph_t *g) {
    int n = 0;
    for (Agraph_t *s = agfstsubg(g); s; s = agnxtsubg(s))
        n += (strncmp(agnameof(s), "cluster", 7) == 0) + count_clusters(s);
    return n;
}

/* The node whose label starts with prefix (exactly one). */
static inline Agnode_t *node_labelled(Agraph_t *g, const char *prefix) {
    Agnode_t *found = NULL;
    for (Agnode_t *n = agfstnode(g); n; n = agnxtnode(g, n)) {
        const char *label = agget(n, "label");
        if (label && strncmp(label, prefix, strlen(prefix)) == 0) {
            assert_null(found);
            found = n;
        }
    }
    if (!found) print_error("no node labelled \"%s...\"\n", prefix);
    assert_non_null(found);
    return found;
}

/* What Graphviz shows for a label (lib/common/labels.c): \n \l \r break the
 * line, \N \G \E \H \T \L are replaced by object names (shown here as
 * "<macro>"), any other escaped character is itself (so \\ is a backslash). */
static inline void shown_text(const char *label, char *out, size_t size) {
    size_t k = 0;
    for (const char *s = label; *s && k + 8 < size; s++) {
        if (s[0] != '\\' || !s[1]) {
            out[k++] = *s;
            continue;
        }
        s++;
        if (strchr("nlr", *s)) out[k++] = '\n';
        else if (strchr("NGEHTL", *s)) k += (size_t)snprintf(out + k, size - k, "<macro>");
        else out[k++] = *s;
    }
    out[k] = '\0';
}

static inline const char *attr(void *object, const char *name) {
    const char *v = agget(object, (char *)name);
    return v ? v : "";
}
#endif /* TG_HAVE_GRAPHVIZ */

#endif
