/* conv2d, conv_transpose2d and conv2d_weight_grad: argument checks, the
 * recorded nodes and their backward rules (each one of the three ops, see
 * ops/conv.h). The kernels are in ops/conv_gemm.c. */
#include "ops/conv.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ops/conv_gemm.h"
#include "ops/describe.h"
#include "ops/kernel.h"
#include "ops/reduce.h"
#include "ops/registry.h"

/* Options with the defaults filled in, and the kernel size. */
typedef struct {
    int64_t kernel[2], stride[2], padding[2], dilation[2], output_padding[2], groups;
} conv_attrs;

/* "w f32[4,3,3,3]"-style context for every message of one call */
typedef struct {
    const char *who;
    char first[96], second[96]; /* the two tensors' descriptions */
    const char *first_name, *second_name;
} conv_context;

static void context_make(conv_context *c, const char *who, const char *first_name, const tg_tensor *first,
                         const char *second_name, const tg_tensor *second) {
    c->who = who;
    c->first_name = first_name;
    c->second_name = second_name;
    tg_tensor_desc(first, c->first, sizeof c->first);
    tg_tensor_desc(second, c->second, sizeof c->second);
}

/* Records "who: <what> (x f32[...], w f32[...])" on the tape; returns false. */
static bool conv_fail(tg_tape *t, const conv_context *c, tg_status status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool conv_fail(tg_tape *t, const conv_context *c, tg_status status, const char *fmt, ...) {
    char what[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(what, sizeof what, fmt, args);
    va_end(args);
    tg_tape_fail(t, status, "%s: %s (%s %s, %s %s)", c->who, what, c->first_name, c->first, c->second_name,
                 c->second);
    return false;
}
#define FAIL conv_fail

/* A stride or dilation pair: {0, 0} is the default {1, 1}; otherwise both in
 * [1, TG_MAX_NUMEL] (as every size option: the size arithmetic below then
 * stays inside int64). */
static bool positive_pair(tg_tape *t, const conv_context *c, const char *name, const int64_t given[2],
                          int64_t out[2]) {
    if (given[0] == 0 && given[1] == 0) {
        out[0] = out[1] = 1;
        return true;
    }
    if (given[0] < 1 || given[1] < 1 || given[0] > TG_MAX_NUMEL || given[1] > TG_MAX_NUMEL)
        return FAIL(t, c, TG_ERR_ARG, "%s {%lld, %lld} is not valid: give both (height, width), each >= 1 (and below "
                    "2^60)", name, (long long)given[0], (long long)given[1]);
    out[0] = given[0], out[1] = given[1];
    return true;
}

/* Fills at (all but the kernel) from the caller's options. */
static bool conv_options(tg_tape *t, const conv_context *c, const tg_conv2d_opts *o, bool transposed,
                         conv_attrs *at) {
    if (!positive_pair(t, c, "stride", o->stride, at->stride) ||
        !positive_pair(t, c, "dilation", o->dilation, at->dilation))
        return false;
    for (int i = 0; i < 2; i++) {
        if (o->padding[i] < 0 || o->padding[i] > TG_MAX_NUMEL)
            return FAIL(t, c, TG_ERR_ARG, "padding {%lld, %lld} is not valid: each must be >= 0 (and below 2^60)",
                        (long long)o->padding[0], (long long)o->padding[1]);
        if (o->output_padding[i] < 0 || (!transposed && o->output_padding[i] != 0) ||
            (transposed && o->output_padding[i] >= at->stride[i]))
            return FAIL(t, c, TG_ERR_ARG, "output_padding {%lld, %lld} is not valid: %s",
                        (long long)o->output_padding[0], (long long)o->output_padding[1],
                        transposed ? "each must be >= 0 and below the stride" : "it is for tg_conv_transpose2d only");
        at->padding[i] = o->padding[i];
        at->output_padding[i] = o->output_padding[i];
    }
    if (o->groups < 0) return FAIL(t, c, TG_ERR_ARG, "groups %lld is negative", (long long)o->groups);
    at->groups = o->groups ? o->groups : 1;
    return true;
}

/* The output size of a convolution along one axis; false if the dilated
 * kernel does not fit the padded input. Sizes, kernel and options are at
 * most TG_MAX_NUMEL = 2^60, so `padded` fits in int64; the span
 * d (k - 1) + 1 is compared by division before it is formed. */
static bool conv_out_size(tg_tape *t, const conv_context *c, const conv_attrs *at, const int64_t in[2],
                          int64_t out[2]) {
    for (int i = 0; i < 2; i++) {
        int64_t padded = in[i] + 2 * at->padding[i];
        if (padded < 1 || at->kernel[i] - 1 > (padded - 1) / at->dilation[i])
            return FAIL(t, c, TG_ERR_SHAPE,
                        "the kernel %lldx%lld (dilation %lldx%lld) is larger than the padded input %lldx%lld along "
                        "the %s",
                        (long long)at->kernel[0], (long long)at->kernel[1], (long long)at->dilation[0],
                        (long long)at->dilation[1], (long long)(in[0] + 2 * at->padding[0]),
                        (long long)(in[1] + 2 * at->padding[1]), i ? "width" : "height");
        out[i] = (padded - (at->dilation[i] * (at->kernel[i] - 1) + 1)) / at->stride[i] + 1;
    }
    return true;
}

/* The size tg_conv_transpose2d gives along each axis for an input of size
 * in[i]: (in - 1) s - 2 p + d (k - 1) + output_padding + 1; false if a term
 * would exceed TG_MAX_NUMEL (each factor is at most 2^60, so the products
 * are compared by division first and the sum stays inside int64). */
static bool transposed_size(const conv_attrs *at, const int64_t in[2], int64_t out[2]) {
    for (int i = 0; i < 2; i++) {
        int64_t steps = in[i] > 0 ? in[i] - 1 : 0, taps = at->kernel[i] - 1;
        if ((steps && at->stride[i] > TG_MAX_NUMEL / steps) || (taps && at->dilation[i] > TG_MAX_NUMEL / taps))
            return false;
        out[i] = steps * at->stride[i] - 2 * at->padding[i] + at->dilation[i] * taps + at->output_padding[i] + 1;
    }
    return true;
}

/* The im2col (or Winograd) workspace of one image and group, Cin/G kH kW
 * Hout Wout elements, must stay far inside int64 (the kernels form sizes and
 * byte counts from it): at most TG_MAX_NUMEL / 64 elements. */
static bool workspace_fits(tg_tape *t, const conv_context *c, int64_t group_in, const int64_t kernel[2],
                           const int64_t out[2]) {
    double elements = (double)group_in * (double)kernel[0] * (double)kernel[1] * (double)out[0] * (double)out[1];
    if (elements <= (double)(TG_MAX_NUMEL / 64)) return true;
    return FAIL(t, c, TG_ERR_SHAPE, "the convolution's workspace (%.3g elements per image) is too large", elements);
}

static bool four_dims(tg_tape *t, const conv_context *c, const tg_tensor *a, const tg_tensor *b) {
    if (a->ndim == 4 && b->ndim == 4) return true;
    return FAIL(t, c, TG_ERR_SHAPE, "%s", "both must be 4-D (NCHW input, [C_out,C_in/groups,kH,kW] weight)");
}

static bool channels_split(tg_tape *t, const conv_context *c, int64_t in_channels, int64_t out_channels,
                           int64_t groups) {
    if (in_channels % groups == 0 && out_channels % groups == 0) return true;
    return FAIL(t, c, TG_ERR_SHAPE, "%lld input and %lld output channels do not split into %lld groups",
                (long long)in_channels, (long long)out_channels, (long long)groups);
}

static bool bias_fits(tg_tape *t, const conv_context *c, const tg_tensor *b, int64_t channels) {
    if (!b || (b->ndim == 1 && b->shape[0] == channels)) return true;
    char desc[96];
    return FAIL(t, c, TG_ERR_SHAPE, "bias %s must be [%lld], one per output channel",
                tg_tensor_desc(b, desc, sizeof desc), (long long)channels);
}

static tg_conv2d_opts opts_of(const conv_attrs *at) {
    tg_conv2d_opts o = {.groups = at->groups};
    for (int i = 0; i < 2; i++) {
        o.stride[i] = at->stride[i];
        o.padding[i] = at->padding[i];
        o.dilation[i] = at->dilation[i];
    }
    return o;
}

static tg_conv_geometry geometry_of(const conv_attrs *at, const tg_tensor *x, int64_t out_channels,
                                    const int64_t out[2]) {
    tg_conv_geometry g = {.batch = x->shape[0], .groups = at->groups, .in_channels = x->shape[1],
                          .height = x->shape[2], .width = x->shape[3], .out_channels = out_channels,
                          .out_height = out[0], .out_width = out[1]};
    for (int i = 0; i < 2; i++) {
        g.kernel[i] = at->kernel[i];
        g.stride[i] = at->stride[i];
        g.padding[i] = at->padding[i];
        g.dilation[i] = at->dilation[i];
    }
    return g;
}

/* "kernel=3x3 stride=2 pad=1", then " dil=2", " groups=4", " out_pad=1" when not the default (short:
 * DOT labels show 48 characters) */
static int conv_describe(const tg_node *node, char *buf, size_t size) {
    const conv_attrs *at = node->attrs;
    tg_text s = tg_text_on(buf, size);
    tg_text_printf(&s, "kernel=%lldx%lld ", (long long)at->kernel[0], (long long)at->kernel[1]);
    tg_text_pair(&s, "stride", at->stride);
    tg_text_printf(&s, " ");
    tg_text_pair(&s, "pad", at->padding);
    if (at->dilation[0] != 1 || at->dilation[1] != 1) {
        tg_text_printf(&s, " ");
        tg_text_pair(&s, "dil", at->dilation);
    }
    if (at->groups != 1) tg_text_printf(&s, " groups=%lld", (long long)at->groups);
    if (at->output_padding[0] || at->output_padding[1]) {
        tg_text_printf(&s, " ");
        tg_text_pair(&s, "out_pad", at->output_padding);
    }
    return tg_text_length(&s);
}

/* The transposed convolution of z that gives x's height and width back
 * (output_padding makes up what the stride dropped). */
static tg_tensor *transpose_to(tg_tape *t, tg_tensor *z, tg_tensor *w, const conv_attrs *at, const tg_tensor *x) {
    conv_attrs full = *at;
    int64_t in[2] = {z->shape[2], z->shape[3]}, size[2];
    full.output_padding[0] = full.output_padding[1] = 0;
    (void)transposed_size(&full, in, size); /* z's sizes came from a convolution of x: they fit */
    tg_conv2d_opts o = opts_of(at);
    o.output_padding[0] = x->shape[2] - size[0];
    o.output_padding[1] = x->shape[3] - size[1];
    return tg_conv_transpose2d(t, z, w, NULL, o);
}

/* the bias gradient: g summed over every axis but the channels */
static tg_tensor *bias_grad(tg_tape *t, tg_tensor *g) { return tg_sum(t, g, (const int[]){0, 2, 3}, 3, false); }

/* y = conv(x, w) + b:  dx = T(g, w), dw = W(x, g), db = sum g */
static tg_status conv2d_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    const conv_attrs *at = node->attrs;
    tg_tensor *x = node->inputs[0], *w = node->inputs[1];
    if (x->requires_grad) gi[0] = transpose_to(t, g, w, at, x);
    if (w->requires_grad) gi[1] = tg_conv2d_weight_grad(t, x, g, at->kernel[0], at->kernel[1], opts_of(at));
    if (node->n_inputs == 3 && node->inputs[2]->requires_grad) gi[2] = bias_grad(t, g);
    return tg_tape_status(t);
}
static const tg_op conv2d_op = {"conv2d", -1, conv2d_backward, conv_describe};

/* y = T(z, w) + b:  dz = conv(g, w), dw = W(g, z), db = sum g */
static tg_status conv_transpose2d_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    const conv_attrs *at = node->attrs;
    tg_tensor *z = node->inputs[0], *w = node->inputs[1];
    if (z->requires_grad) gi[0] = tg_conv2d(t, g, w, NULL, opts_of(at));
    if (w->requires_grad) gi[1] = tg_conv2d_weight_grad(t, g, z, at->kernel[0], at->kernel[1], opts_of(at));
    if (node->n_inputs == 3 && node->inputs[2]->requires_grad) gi[2] = bias_grad(t, g);
    return tg_tape_status(t);
}
static const tg_op conv_transpose2d_op = {"conv_transpose2d", -1, conv_transpose2d_backward, conv_describe};

/* dw = W(x, z):  dx = T(z, g), dz = conv(x, g) */
static tg_status weight_grad_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    const conv_attrs *at = node->attrs;
    tg_tensor *x = node->inputs[0], *z = node->inputs[1];
    if (x->requires_grad) gi[0] = transpose_to(t, z, g, at, x);
    if (z->requires_grad) gi[1] = tg_conv2d(t, x, g, NULL, opts_of(at));
    return tg_tape_status(t);
}
static const tg_op weight_grad_op = {"conv2d_weight_grad", 2, weight_grad_backward, conv_describe};

/* The shared start of every op: inputs, dtypes, options. */
static bool conv_start(tg_tape *t, conv_context *c, const char *who, tg_tensor *a, tg_tensor *b_or_w,
                       tg_tensor *bias, const char *a_name, const char *w_name, const tg_conv2d_opts *o,
                       bool transposed, conv_attrs *at) {
    tg_tensor *in[3] = {a, b_or_w, bias};
    if (!tg_check_inputs(t, who, bias ? 3 : 2, in)) return false;
    context_make(c, who, a_name, a, w_name, b_or_w);
    *at = (conv_attrs){0};
    return four_dims(t, c, a, b_or_w) && conv_options(t, c, o, transposed, at);
}

tg_tensor *tg_conv2d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, tg_conv2d_opts opts) {
    conv_context c;
    conv_attrs at;
    if (!conv_start(t, &c, "tg_conv2d", x, w, b, "x", "w", &opts, false, &at)) return NULL;
    at.kernel[0] = w->shape[2], at.kernel[1] = w->shape[3];
    int64_t in[2] = {x->shape[2], x->shape[3]}, out[2];
    if (!channels_split(t, &c, x->shape[1], w->shape[0], at.groups)) return NULL;
    if (w->shape[1] != x->shape[1] / at.groups) { /* x's channels split into the groups (checked above) */
        FAIL(t, &c, TG_ERR_SHAPE, "w takes %lld input channels per group, x has %lld channels in %lld groups",
             (long long)w->shape[1], (long long)x->shape[1], (long long)at.groups);
        return NULL;
    }
    if (at.kernel[0] < 1 || at.kernel[1] < 1) {
        FAIL(t, &c, TG_ERR_SHAPE, "%s", "the kernel is empty");
        return NULL;
    }
    bool empty = x->shape[0] == 0 || w->shape[0] == 0; /* nothing to compute */
    if (!conv_out_size(t, &c, &at, in, out) || (!empty && !workspace_fits(t, &c, w->shape[1], at.kernel, out)) ||
        !bias_fits(t, &c, b, w->shape[0]))
        return NULL;
    tg_tensor *y = tg_tape_result(t, x->dtype, 4, (const int64_t[]){x->shape[0], w->shape[0], out[0], out[1]});
    if (!y) return NULL;
    tg_conv_geometry g = geometry_of(&at, x, w->shape[0], out);
    if (!empty && tg_conv_gemm_forward(t, &g, x->dtype, x->data, w->data, b ? b->data : NULL, y->data)) return NULL;
    tg_tensor *inputs[3] = {x, w, b};
    return tg_tape_record(t, &conv2d_op, b ? 3 : 2, inputs, y, &at, sizeof at);
}

tg_tensor *tg_conv_transpose2d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, tg_conv2d_opts opts) {
    conv_context c;
    conv_attrs at;
    if (!conv_start(t, &c, "tg_conv_transpose2d", x, w, b, "x", "w", &opts, true, &at)) return NULL;
    at.kernel[0] = w->shape[2], at.kernel[1] = w->shape[3];
    if (w->shape[1] && at.groups > TG_MAX_NUMEL / w->shape[1]) {
        FAIL(t, &c, TG_ERR_SHAPE, "%lld groups of %lld output channels are more than %lld channels",
             (long long)at.groups, (long long)w->shape[1], (long long)TG_MAX_NUMEL);
        return NULL;
    }
    int64_t out_channels = w->shape[1] * at.groups;
    if (w->shape[0] != x->shape[1]) {
        FAIL(t, &c, TG_ERR_SHAPE, "w [C_in,C_out/groups,kH,kW] has %lld input channels, x has %lld",
             (long long)w->shape[0], (long long)x->shape[1]);
        return NULL;
    }
    if (!channels_split(t, &c, x->shape[1], out_channels, at.groups)) return NULL;
    if (at.kernel[0] < 1 || at.kernel[1] < 1) {
        FAIL(t, &c, TG_ERR_SHAPE, "%s", "the kernel is empty");
        return NULL;
    }
    int64_t in[2] = {x->shape[2], x->shape[3]}, size[2];
    if (!transposed_size(&at, in, size)) {
        FAIL(t, &c, TG_ERR_SHAPE, "the output would have more than %lld rows or columns", (long long)TG_MAX_NUMEL);
        return NULL;
    }
    if (size[0] < 1 || size[1] < 1) {
        FAIL(t, &c, TG_ERR_SHAPE, "the output would be %lldx%lld (padding {%lld, %lld} is too large)",
             (long long)size[0], (long long)size[1], (long long)at.padding[0], (long long)at.padding[1]);
        return NULL;
    }
    bool empty = x->shape[0] == 0 || out_channels == 0; /* nothing to compute */
    if ((!empty && !workspace_fits(t, &c, w->shape[1], at.kernel, in)) || !bias_fits(t, &c, b, out_channels))
        return NULL;
    tg_tensor *y = tg_tape_result(t, x->dtype, 4, (const int64_t[]){x->shape[0], out_channels, size[0], size[1]});
    if (!y) return NULL;
    /* the convolution whose input gradient this is: input y, output x */
    tg_conv_geometry g = geometry_of(&at, y, x->shape[1], in);
    if (!empty && tg_conv_gemm_transpose(t, &g, x->dtype, x->data, w->data, b ? b->data : NULL, y->data))
        return NULL;
    tg_tensor *inputs[3] = {x, w, b};
    return tg_tape_record(t, &conv_transpose2d_op, b ? 3 : 2, inputs, y, &at, sizeof at);
}

tg_tensor *tg_conv2d_weight_grad(tg_tape *t, tg_tensor *x, tg_tensor *grad_out, int64_t kernel_h, int64_t kernel_w,
                                 tg_conv2d_opts opts) {
    conv_context c;
    conv_attrs at;
    if (!conv_start(t, &c, "tg_conv2d_weight_grad", x, grad_out, NULL, "x", "grad_out", &opts, false, &at))
        return NULL;
    at.kernel[0] = kernel_h, at.kernel[1] = kernel_w;
    if (kernel_h < 1 || kernel_w < 1) {
        FAIL(t, &c, TG_ERR_ARG, "kernel %lldx%lld is empty", (long long)kernel_h, (long long)kernel_w);
        return NULL;
    }
    if (!channels_split(t, &c, x->shape[1], grad_out->shape[1], at.groups)) return NULL;
    int64_t in[2] = {x->shape[2], x->shape[3]}, out[2];
    bool empty = x->shape[0] == 0; /* no image: a zero gradient */
    if (!conv_out_size(t, &c, &at, in, out) ||
        (!empty && !workspace_fits(t, &c, x->shape[1] / at.groups, at.kernel, out)))
        return NULL;
    if (grad_out->shape[0] != x->shape[0] || grad_out->shape[2] != out[0] || grad_out->shape[3] != out[1]) {
        FAIL(t, &c, TG_ERR_SHAPE, "grad_out must be [%lld,C_out,%lld,%lld], the convolution's output",
             (long long)x->shape[0], (long long)out[0], (long long)out[1]);
        return NULL;
    }
    int64_t shape[4] = {grad_out->shape[1], x->shape[1] / at.groups, kernel_h, kernel_w};
    tg_tensor *dw = tg_tape_result(t, x->dtype, 4, shape);
    if (!dw) return NULL;
    tg_conv_geometry g = geometry_of(&at, x, grad_out->shape[1], out);
    if (empty)
        memset(dw->data, 0, tg_dtype_size(x->dtype) * (size_t)dw->numel);
    else if (tg_conv_gemm_weight(t, &g, x->dtype, x->data, grad_out->data, dw->data))
        return NULL;
    tg_tensor *inputs[2] = {x, grad_out};
    return tg_tape_record(t, &weight_grad_op, 2, inputs, dw, &at, sizeof at);
}

/* ---- registry entries: odd sizes, stride, padding, dilation, groups, 1x1 ---- */
typedef struct {
    int64_t x[4], w[4];
    bool bias;
    tg_conv2d_opts opts;
} conv_case;

static const conv_case plain = {{2, 3, 5, 6}, {4, 3, 3, 3}, true, {.padding = {1, 1}}};
static const conv_case strided = {{1, 2, 7, 6}, {3, 2, 3, 2}, true, {.stride = {2, 3}, .padding = {1, 0}}};
static const conv_case dilated = {{2, 2, 7, 6}, {2, 2, 3, 3}, false, {.padding = {2, 1}, .dilation = {2, 2}}};
static const conv_case grouped = {{2, 4, 5, 5}, {6, 2, 3, 3}, true, {.stride = {2, 2}, .groups = 2}};
static const conv_case depthwise = {{1, 3, 6, 5}, {3, 1, 3, 3}, true, {.stride = {2, 2}, .padding = {1, 1}, .groups = 3}};
/* 8 channels, 3x3, stride 1: Winograd's F(2x2, 3x3) (ops/conv_winograd.c) */
static const conv_case winograd = {{1, 8, 4, 5}, {8, 8, 3, 3}, true, {.padding = {1, 1}}};
static const conv_case pointwise = {{2, 3, 4, 3}, {5, 3, 1, 1}, true, {.groups = 1}};
/* conv_transpose2d: x [N, C_in, H, W], w [C_in, C_out/groups, kH, kW] */
static const conv_case transposed = {{2, 3, 3, 4}, {3, 2, 3, 3}, true, {.stride = {2, 2}, .padding = {1, 1},
                                                                       .output_padding = {1, 0}}};
static const conv_case transposed_grouped = {{1, 4, 4, 3}, {4, 1, 2, 3}, false, {.stride = {1, 2}, .padding = {0, 1},
                                                                                .dilation = {2, 1}, .groups = 2}};

static tg_status sample_case(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in, const conv_case *cc,
                             bool transposed_layout) {
    in[0] = tg_sample_signed(t, rng, dt, 4, cc->x, 0.1, 1.0);
    in[1] = tg_sample_signed(t, rng, dt, 4, cc->w, 0.1, 1.0);
    int64_t channels = transposed_layout ? cc->w[1] * (cc->opts.groups ? cc->opts.groups : 1) : cc->w[0];
    if (cc->bias) in[2] = tg_sample_signed(t, rng, dt, 1, &channels, 0.1, 1.0);
    return tg_tape_status(t);
}

/* N_INPUTS: 3 with a bias, else 2 (an initializer must be a constant, not CASE.bias) */
#define CONV_ENTRY(NAME, LABEL, FUNCTION, CASE, TRANSPOSED, N_INPUTS)                                        \
    static tg_status sample_##NAME(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {                    \
        return sample_case(t, rng, dt, in, &CASE, TRANSPOSED);                                               \
    }                                                                                                        \
    static tg_tensor *apply_##NAME(tg_tape *t, tg_tensor **in) {                                             \
        return FUNCTION(t, in[0], in[1], CASE.bias ? in[2] : NULL, CASE.opts);                               \
    }                                                                                                        \
    const tg_op_spec tg_spec_##NAME = {LABEL, #FUNCTION, N_INPUTS, sample_##NAME, apply_##NAME};

CONV_ENTRY(conv2d, "conv2d(pad=1)", tg_conv2d, plain, false, 3)
CONV_ENTRY(conv2d_strided, "conv2d(stride=2x3,pad=1x0,odd)", tg_conv2d, strided, false, 3)
CONV_ENTRY(conv2d_dilated, "conv2d(dilation=2,pad=2x1)", tg_conv2d, dilated, false, 2)
CONV_ENTRY(conv2d_grouped, "conv2d(groups=2,stride=2)", tg_conv2d, grouped, false, 3)
CONV_ENTRY(conv2d_depthwise, "conv2d(depthwise,stride=2,pad=1)", tg_conv2d, depthwise, false, 3)
CONV_ENTRY(conv2d_pointwise, "conv2d(1x1)", tg_conv2d, pointwise, false, 3)
CONV_ENTRY(conv2d_winograd, "conv2d(winograd,8->8,pad=1)", tg_conv2d, winograd, false, 3)
CONV_ENTRY(conv_transpose2d, "conv_transpose2d(stride=2,pad=1,out_pad)", tg_conv_transpose2d, transposed, true, 3)
CONV_ENTRY(conv_transpose2d_grouped, "conv_transpose2d(groups=2,dilation)", tg_conv_transpose2d,
           transposed_grouped, true, 2)

/* x [2,4,6,5], grad_out [2,6,3,3] of a 3x3 kernel, stride 2, padding 1, 2 groups */
static tg_status sample_weight_grad(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(2, 4, 6, 5), 0.1, 1.0);
    in[1] = tg_sample_signed(t, rng, dt, TG_SHAPE(2, 6, 3, 3), 0.1, 1.0);
    return tg_tape_status(t);
}
static tg_tensor *apply_weight_grad(tg_tape *t, tg_tensor **in) {
    return tg_conv2d_weight_grad(t, in[0], in[1], 3, 3, (tg_conv2d_opts){.stride = {2, 2}, .padding = {1, 1}, .groups = 2});
}
const tg_op_spec tg_spec_conv2d_weight_grad = {"conv2d_weight_grad(groups=2,stride=2)", "tg_conv2d_weight_grad", 2,
                                               sample_weight_grad, apply_weight_grad};
