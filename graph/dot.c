/* Writing the drawing of a tape as DOT text (see graph/dot.h). */
#include "graph/dot.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph/dot_graph.h"

/* ---- escaping: text inside a DOT "quoted string" that Graphviz shows as is ---- */

/* Length of the valid UTF-8 sequence starting at s (n bytes left), 0 if none. */
static size_t utf8_sequence(const unsigned char *s, size_t n) {
    size_t len;
    uint32_t cp;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) len = 2, cp = s[0] & 0x1fu;
    else if (s[0] >= 0xe0 && s[0] <= 0xef) len = 3, cp = s[0] & 0x0fu;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4) len = 4, cp = s[0] & 0x07u;
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return 0;
    return len;
}

/* Quotes and backslashes escaped (so \N, \G... are never label macros),
 * newline as \n, tab as a space, other control bytes shown as \xHH, valid
 * UTF-8 kept, invalid bytes as U+FFFD. */
static void put_text(FILE *out, const char *text, size_t n) {
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == '"') fputs("\\\"", out);
        else if (c == '\\') fputs("\\\\", out);
        else if (c == '\n') fputs("\\n", out);
        else if (c == '\t') fputc(' ', out);
        else if (c < 0x20 || c == 0x7f) fprintf(out, "\\\\x%02X", c);
        else if (c < 0x80) fputc(c, out);
        else {
            size_t len = utf8_sequence(s + i, n - i);
            if (len) fwrite(s + i, 1, len, out), i += len - 1;
            else fputs("\xef\xbf\xbd", out);
        }
    }
}

static void put_string(FILE *out, const char *s) { put_text(out, s, strlen(s)); }

/* ---- gradient heat: log10 |g| from -6 (blue) through -2 (green) to 2 (red) ---- */
enum { HEAT_LOW = -6, HEAT_HIGH = 2 };

static bool has_heat(const tg_dot_graph *g, double norm) { return g->opts.show_grads && !(norm < 0); }

/* color and penwidth, printed without floating-point formats (locale-proof) */
static void put_heat(FILE *out, double norm) {
    if (norm == 0) {
        fputs(", color=\"#aaaaaa\"", out);
        return;
    }
    if (!isfinite(norm)) {
        fputs(", color=\"#ff0000\", penwidth=5", out);
        return;
    }
    double p = (log10(norm) - HEAT_LOW) / (HEAT_HIGH - HEAT_LOW);
    p = p < 0 ? 0 : p > 1 ? 1 : p;
    int hue = (int)lround(667 * (1 - p)); /* thousandths: 0.667 blue ... 0 red */
    int width = 10 + (int)lround(40 * p); /* tenths: 1.0 ... 5.0 */
    fprintf(out, ", color=\"0.%03d 0.900 0.850\", penwidth=%d.%d", hue, width / 10, width % 10);
}

static void put_norm(FILE *out, double norm) {
    if (norm == 0) fputs("grad 0", out);
    else fprintf(out, "grad %.2e", norm);
}

static void put_id(FILE *out, const char *prefix, uint64_t id) { fprintf(out, "%s%016" PRIx64, prefix, id); }

static void indent(FILE *out, int depth) {
    for (int i = 0; i <= depth; i++) fputs("  ", out);
}

/* ---- nodes ---- */
typedef struct {
    const char *title; /* first label line when the tensor has no name */
    const char *shape, *style, *fill, *border;
} look;

static look item_look(const tg_dot_item *it) {
    const tg_tensor *x = it->tensor;
    if (it->node) {
        if (it->node->in_backward) return (look){NULL, "box", "filled,dashed", "#ead1dc", "#a64d79"};
        if (it->is_root) return (look){NULL, "box", "filled,bold", "#f4cccc", "#cc0000"};
        return (look){NULL, "box", "filled", "#ffffff", "#444444"};
    }
    switch (x->kind) {
    case TG_KIND_INPUT: return (look){"input", "ellipse", "filled", "#cfe2f3", "#3d85c6"};
    case TG_KIND_PARAM: return (look){"parameter", "box", "filled,rounded", "#d9ead3", "#6aa84f"};
    case TG_KIND_BUFFER: return (look){"buffer", "box", "filled,rounded,dashed", "#fff2cc", "#bf9000"};
    case TG_KIND_RESULT:
        if (x->node && x->node->in_backward)
            return (look){"from backward (hidden)", "note", "filled,dashed", "#ead1dc", "#a64d79"};
        return (look){"result (not recorded)", "note", "filled", "#eeeeee", "#999999"};
    case TG_KIND_CONSTANT:
    default: return (look){"constant", "note", "filled", "#eeeeee", "#999999"};
    }
}

/* "\n" and the op's attributes (describe hook) if it has any, cut to one short line */
static void put_description(FILE *out, const tg_node *node) {
    enum { SHOWN = 48 };
    char text[SHOWN + 1];
    int n = tg_dot_describe(node, text, sizeof text);
    size_t len = strlen(text);
    if (n == 0 || len == 0) return;
    fputs("\\n", out);
    if (n <= SHOWN) {
        put_text(out, text, len);
        return;
    }
    size_t keep = len < SHOWN - 3 ? len : SHOWN - 3;
    while (keep > 0 && ((unsigned char)text[keep] & 0xc0) == 0x80) keep--; /* not inside a UTF-8 character */
    put_text(out, text, keep);
    fputs("...", out);
}

static void put_item(FILE *out, const tg_dot_graph *g, int i, int depth) {
    const tg_dot_item *it = &g->items[i];
    const tg_tensor *x = it->tensor;
    look lk = item_look(it);
    char desc[128];
    tg_tensor_desc(x, desc, sizeof desc);
    indent(out, depth);
    put_id(out, "n", it->id);
    fputs(" [label=\"", out);
    if (it->node) {
        put_string(out, it->node->op->name);
        put_description(out, it->node);
        fputs("\\n", out);
        put_string(out, desc);
        if (x->name) fputs("\\n", out), put_string(out, x->name);
    } else {
        put_string(out, x->name ? x->name : lk.title);
        fputs("\\n", out);
        put_string(out, desc);
        if (has_heat(g, it->grad_norm)) fputs("\\n", out), put_norm(out, it->grad_norm);
    }
    fprintf(out, "\", shape=%s, style=\"%s\", fillcolor=\"%s\"", lk.shape, lk.style, lk.fill);
    if (it->is_root) fputs(", peripheries=2", out);
    if (!it->node && has_heat(g, it->grad_norm)) put_heat(out, it->grad_norm);
    else fprintf(out, ", color=\"%s\"", lk.border);
    fputs("];\n", out);
}

/* A collapsed scope: name, op count, and the tensors it hands to forward ops
 * outside (listed: scratch of n_items flags, all false, left false). */
static void put_collapsed(FILE *out, const tg_dot_graph *g, int k, bool *listed) {
    const tg_dot_scope *s = &g->scopes[k];
    bool root = false;
    for (int i = 0; i < g->n_items; i++)
        if (g->items[i].is_root && g->items[i].scope >= 0 && g->scopes[g->items[i].scope].top == k) root = true;
    indent(out, 0);
    put_id(out, "n", s->id);
    fputs(" [label=\"", out);
    if (s->backward) fputs("backward", out);
    else put_text(out, s->path + s->name_offset, s->path_len - s->name_offset);
    fprintf(out, "\\n%d op%s", s->n_ops, s->n_ops == 1 ? "" : "s");
    int shown = 0;
    for (int pass = 0; pass < 2; pass++) { /* pass 1 clears the flags */
        for (int e = 0; e < g->n_edges; e++) {
            const tg_dot_edge *edge = &g->edges[e];
            if (edge->src != -(k + 1) || edge->to_backward || listed[edge->src_item] == (pass == 0)) continue;
            listed[edge->src_item] = pass == 0;
            if (pass == 1 || shown++ >= 2) continue;
            char desc[128];
            fputs("\\n", out);
            put_string(out, tg_tensor_desc(g->items[edge->src_item].tensor, desc, sizeof desc));
        }
    }
    if (shown > 2) fprintf(out, "\\n+%d more", shown - 2);
    fprintf(out, "\", shape=box3d, style=\"%s\", fillcolor=\"%s\", color=\"%s\"%s];\n",
            s->backward ? "filled,dashed" : "filled", s->backward ? "#ead1dc" : "#d9d2e9",
            root ? "#cc0000" : s->backward ? "#a64d79" : "#674ea7", root ? ", peripheries=2" : "");
}

static const char *const CLUSTER_FILL[] = {"#f3f6fb", "#e6edf7", "#d9e4f2", "#ccdbee"};

static void put_cluster(FILE *out, const tg_dot_graph *g, int k) {
    const tg_dot_scope *s = &g->scopes[k];
    indent(out, s->depth);
    put_id(out, "subgraph cluster_", s->id);
    fputs(" {\n", out);
    indent(out, s->depth + 1);
    fputs("label=\"", out);
    if (s->backward) fputs("backward (create_graph)", out);
    else put_text(out, s->path + s->name_offset, s->path_len - s->name_offset);
    fprintf(out, "\"; labeljust=l; fontsize=10; style=\"rounded,filled\"; fillcolor=\"%s\"; color=\"%s\";\n",
            s->backward ? "#fbeff4" : CLUSTER_FILL[s->depth < 3 ? s->depth : 3], s->backward ? "#a64d79" : "#8e9aaf");
    for (int i = s->first_item; i >= 0; i = g->items[i].next_in_scope) put_item(out, g, i, s->depth + 1);
    for (int c = s->first_child; c >= 0; c = g->scopes[c].next_sibling) put_cluster(out, g, c);
    indent(out, s->depth);
    fputs("}\n", out);
}

static void put_end(FILE *out, const tg_dot_graph *g, int end) {
    put_id(out, "n", end >= 0 ? g->items[end].id : g->scopes[-end - 1].id);
}

/* " [" before the first attribute of a statement, ", " before the others */
static void next_attr(FILE *out, bool *open) {
    fputs(*open ? ", " : " [", out);
    *open = true;
}

static void put_edge(FILE *out, const tg_dot_graph *g, const tg_dot_edge *e) {
    double norm = g->items[e->src_item].grad_norm;
    bool heat = has_heat(g, norm), open = false;
    indent(out, 0);
    put_end(out, g, e->src);
    fputs(" -> ", out);
    put_end(out, g, e->dst);
    /* headlabel and xlabel, not label: Graphviz 2.4x's dot layout can crash
     * freeing the virtual nodes of labelled edges inside clusters */
    if (e->slot >= 0) next_attr(out, &open), fprintf(out, "headlabel=\"%d\"", e->slot);
    if (heat) {
        next_attr(out, &open);
        fputs("xlabel=\"", out);
        put_norm(out, norm);
        fputs("\"", out);
        put_heat(out, norm); /* starts with ", " */
    }
    if (e->to_backward) next_attr(out, &open), fputs("style=dashed", out);
    fputs(open ? "];\n" : ";\n", out);
}

static void put_graph(FILE *out, const tg_dot_graph *g, bool *listed) {
    const tg_dot_opts *o = &g->opts;
    fputs("digraph tapegrad {\n", out);
    fprintf(out, "  graph [rankdir=%s, fontname=\"Helvetica\", fontsize=12, nodesep=0.3, ranksep=0.35",
            o->direction == TG_DOT_LR ? "LR" : "TB");
    if (o->title || o->show_grads) {
        fputs(", labelloc=t, label=\"", out);
        if (o->title) put_string(out, o->title);
        if (o->title && o->show_grads) fputs("\\n", out);
        if (o->show_grads)
            fputs("gradient L2 norm, log scale: blue <= 1e-06 (vanishing), green 1e-02, red >= 1e+02 (exploding)",
                  out);
        fputs("\"", out);
    }
    fputs("];\n  node [fontname=\"Helvetica\", fontsize=10, shape=box, style=filled, penwidth=1];\n"
          "  edge [fontname=\"Helvetica\", fontsize=8, labelfontname=\"Helvetica\", labelfontsize=8, "
          "labelfontcolor=\"#555555\", color=\"#666666\", arrowsize=0.7];\n",
          out);
    for (int i = g->first_top_item; i >= 0; i = g->items[i].next_in_scope) put_item(out, g, i, 0);
    for (int k = g->first_top_scope; k >= 0; k = g->scopes[k].next_sibling) {
        if (o->collapse_scopes) put_collapsed(out, g, k, listed);
        else put_cluster(out, g, k);
    }
    for (int e = 0; e < g->n_edges; e++) put_edge(out, g, &g->edges[e]);
    fputs("}\n", out);
}

tg_status tg_dot_write(const tg_tape *t, const tg_tensor *root, FILE *out, const tg_dot_opts *opts) {
    if (!out) return tg_set_error(TG_ERR_ARG, "tg_dot_write: output file is NULL");
    tg_dot_graph g;
    tg_status st = tg_dot_graph_build(&g, t, root, opts);
    if (st) return st;
    bool *listed = calloc((size_t)(g.n_items ? g.n_items : 1), sizeof *listed);
    if (listed) put_graph(out, &g, listed);
    free(listed);
    tg_dot_graph_free(&g);
    if (!listed) return tg_set_error(TG_ERR_NOMEM, "tg_dot_write: out of memory");
    if (fflush(out) != 0 || ferror(out)) return tg_set_error(TG_ERR_IO, "tg_dot_write: writing the DOT text failed");
    return TG_OK;
}
