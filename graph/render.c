/* tg_dot_render: DOT text to a file, or laid out and rendered by the
 * Graphviz C library (gvc + cgraph) when tapegrad was built with it. */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/dot.h"

#ifdef TG_HAVE_GRAPHVIZ
#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>
#endif

/* The format named by path's extension ("dot", "svg", "png", "pdf"), or NULL. */
static const char *format_of(const char *path) {
    static const char *const known[][2] = {{"dot", "dot"}, {"gv", "dot"}, {"svg", "svg"}, {"png", "png"}, {"pdf", "pdf"}};
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) return NULL;
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
        const char *a = dot + 1, *b = known[k][0];
        while (*a && *b && (*a | 0x20) == *b) a++, b++; /* ASCII case-insensitive */
        if (!*a && !*b) return known[k][1];
    }
    return NULL;
}

/* The DOT text in a malloc'ed string. */
static tg_status dot_text(const tg_tape *t, const tg_tensor *root, const tg_dot_opts *opts, char **text) {
    size_t size = 0;
    *text = NULL;
    FILE *mem = open_memstream(text, &size);
    if (!mem) return tg_set_error(TG_ERR_NOMEM, "tg_dot_render: out of memory");
    tg_status st = tg_dot_write(t, root, mem, opts);
    if (fclose(mem) != 0 && !st) st = tg_set_error(TG_ERR_NOMEM, "tg_dot_render: out of memory");
    if (st) {
        free(*text);
        *text = NULL;
    }
    return st;
}

static tg_status write_dot(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return tg_set_error(TG_ERR_IO, "tg_dot_render: cannot write '%s': %s", path, strerror(errno));
    size_t n = strlen(text);
    bool ok = fwrite(text, 1, n, f) == n;
    if (fclose(f) != 0 || !ok) {
        remove(path);
        return tg_set_error(TG_ERR_IO, "tg_dot_render: writing '%s' failed", path);
    }
    return TG_OK;
}

#ifdef TG_HAVE_GRAPHVIZ
/* Graphviz reports through a global callback: gather its messages here. */
static char gv_messages[1024];
static int gather_message(char *message) {
    size_t used = strlen(gv_messages);
    snprintf(gv_messages + used, sizeof gv_messages - used, "%s", message);
    return 0;
}

/* One context for the process, never freed: Graphviz 2.4x's text layout
 * keeps a pointer into the font table of the context that last laid out
 * text, so freeing a context and making another reads freed memory. */
static GVC_t *context(void) {
    static GVC_t *gvc;
    if (!gvc) gvc = gvContext();
    return gvc;
}

static tg_status render(const char *path, const char *format, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return tg_set_error(TG_ERR_IO, "tg_dot_render: cannot write '%s': %s", path, strerror(errno));
    gv_messages[0] = '\0';
    agusererrf previous = agseterrf(gather_message);
    tg_status st = TG_OK;
    GVC_t *gvc = context();
    Agraph_t *g = gvc ? agmemread(text) : NULL;
    if (!gvc) st = tg_set_error(TG_ERR_NOMEM, "tg_dot_render: Graphviz could not start (gvContext failed)");
    else if (!g) st = tg_set_error(TG_ERR_FORMAT, "tg_dot_render: Graphviz rejected the DOT text: %s", gv_messages);
    else if (gvLayout(gvc, g, "dot") != 0)
        st = tg_set_error(TG_ERR_UNSUPPORTED, "tg_dot_render: Graphviz could not lay out the graph: %s", gv_messages);
    else if (gvRender(gvc, g, format, f) != 0)
        st = tg_set_error(TG_ERR_UNSUPPORTED,
                          "tg_dot_render: this Graphviz cannot write %s (is its plugin installed? see 'dot -c'): %s",
                          format, gv_messages);
    if (g && gvc) gvFreeLayout(gvc, g);
    if (g) agclose(g);
    agseterrf(previous);
    if (fclose(f) != 0 && !st) st = tg_set_error(TG_ERR_IO, "tg_dot_render: writing '%s' failed", path);
    if (st) remove(path);
    return st;
}
#else
static tg_status render(const char *path, const char *format, const char *text) {
    (void)text;
    int stem = (int)(strrchr(path, '.') - path);
    return tg_set_error(TG_ERR_UNSUPPORTED,
                        "tg_dot_render: tapegrad was built without the Graphviz C library, so it cannot write "
                        "'%s'; write DOT instead (a path ending in .dot, or tg_dot_write) and render it with "
                        "the dot program: dot -T%s %.*s.dot -o %s",
                        path, format, stem, path, path);
}
#endif

tg_status tg_dot_render(const tg_tape *t, const tg_tensor *root, const char *path, const tg_dot_opts *opts) {
    if (!path || !*path) return tg_set_error(TG_ERR_ARG, "tg_dot_render: path is NULL or empty");
    const char *format = format_of(path);
    if (!format)
        return tg_set_error(TG_ERR_ARG,
                            "tg_dot_render: cannot tell the format of '%s' from its extension: "
                            "use .dot (or .gv), .svg, .png or .pdf",
                            path);
    char *text;
    tg_status st = dot_text(t, root, opts, &text);
    if (st) return st;
    st = strcmp(format, "dot") == 0 ? write_dot(path, text) : render(path, format, text);
    free(text);
    return st;
}
