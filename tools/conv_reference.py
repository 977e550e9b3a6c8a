#!/usr/bin/python3
"""Expected values for tests/test_conv.c, test_pool.c and test_cnn.c, from PyTorch.

    /usr/bin/python3 tools/conv_reference.py > tests/conv_reference.h

Every case feeds torch.nn.functional (conv2d, conv_transpose2d, max_pool2d,
avg_pool2d) and torch.nn.grad.conv2d_weight in float64 with the inputs the
tests build (pattern() below and in the tests: exact binary fractions), takes
the gradients of sum(y * r) for a patterned r, and prints them as C arrays;
then a small CNN with batchnorm, its loss, gradients and running statistics.
Needs python3-torch (Debian); the build does not use this script.
"""
import math
import textwrap

import torch
import torch.nn.functional as F


def pattern(shape, mul, mod, div):
    """value[i] = ((i * mul) % mod - mod // 2) / div over the flat index i (the header's reference_pattern)"""
    n = 1
    for s in shape:
        n *= s
    vals = [((i * mul) % mod - mod // 2) / div for i in range(n)]
    return torch.tensor(vals, dtype=torch.float64).reshape(shape)


# the patterns of tests/test_conv.c
def x_of(shape):
    return pattern(shape, 7, 13, 4.0)


def w_of(shape):
    return pattern(shape, 5, 11, 8.0)


def b_of(shape):
    return pattern(shape, 3, 7, 2.0)


def r_of(shape):
    return pattern(shape, 11, 9, 4.0)


def c_array(name, t):
    vals = t.detach().reshape(-1).tolist()
    body = textwrap.fill(", ".join(repr(float(v)) for v in vals), 112, initial_indent="    ",
                         subsequent_indent="    ")
    return "static const double %s[%d] = {\n%s};" % (name, len(vals), body)


def pair(v):
    return "{%d, %d}" % (v[0], v[1])


def conv_case(name, xs, ws, bias, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, transposed=False,
              output_padding=(0, 0)):
    x = x_of(xs).requires_grad_()
    w = w_of(ws).requires_grad_()
    out_channels = ws[1] * groups if transposed else ws[0]
    b = b_of((out_channels,)).requires_grad_() if bias else None
    if transposed:
        y = F.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)
    else:
        y = F.conv2d(x, w, b, stride, padding, dilation, groups)
    r = r_of(tuple(y.shape))
    (y * r).sum().backward()
    lines = [c_array(name + "_y", y), c_array(name + "_dx", x.grad), c_array(name + "_dw", w.grad)]
    lines.append(c_array(name + "_db", b.grad) if bias else "#define %s_db NULL" % name)
    opts = "{.stride = %s, .padding = %s, .dilation = %s, .groups = %d, .output_padding = %s}" % (
        pair(stride), pair(padding), pair(dilation), groups, pair(output_padding))
    lines.append("static const conv_reference %s = {\n    \"%s\", {%s}, {%s}, %s,\n    %s,\n    {%s}, %s_y, %s_dx, %s_dw, %s_db};" % (
        name, name, ", ".join(map(str, xs)), ", ".join(map(str, ws)), "true" if bias else "false", opts,
        ", ".join(map(str, y.shape)), name, name, name, name))
    return "\n".join(lines)


def weight_grad_case(name, xs, gs, kernel, stride, padding, groups):
    x = x_of(xs)
    g = r_of(gs)
    ws = (gs[1], xs[1] // groups, kernel[0], kernel[1])
    dw = torch.nn.grad.conv2d_weight(x, ws, g, stride, padding, 1, groups)
    return c_array(name, dw)


def pool_case(name, kind, xs, kernel, stride, padding):
    x = x_of(xs).requires_grad_()
    if kind == "max":
        y = F.max_pool2d(x, kernel, stride, padding)
    else:
        y = F.avg_pool2d(x, kernel, stride, padding)  # count_include_pad=True
    r = r_of(tuple(y.shape))
    (y * r).sum().backward()
    return "\n".join([c_array(name + "_y", y), c_array(name + "_dx", x.grad)])


def waves(shape, a, b, scale):
    """value[i] = scale sin(a i + b) with C's sin (tests/test_cnn.c: waves): no ties for max pooling"""
    n = 1
    for s in shape:
        n *= s
    return torch.tensor([scale * math.sin(a * i + b) for i in range(n)], dtype=torch.float64).reshape(shape)


def cnn_case():
    """x [4,1,6,6] -> conv 3x3 1->3 pad 1 -> batchnorm -> relu -> max pool 2 -> conv 2x2 3->2 -> relu ->
    flatten -> linear 8->3 -> cross-entropy(labels 0 2 1 2): the loss, every gradient, the running statistics"""
    x = waves((4, 1, 6, 6), 1.3, 0.2, 1.0).requires_grad_()
    params = {
        "w1": waves((3, 1, 3, 3), 0.7, 0.1, 0.5), "b1": waves((3,), 0.9, 0.3, 0.2),
        "gamma": 1 + waves((3,), 1.1, 0.5, 0.3), "beta": waves((3,), 0.6, 0.7, 0.2),
        "w2": waves((2, 3, 2, 2), 0.8, 0.4, 0.5), "b2": waves((2,), 0.5, 0.9, 0.1),
        "W": waves((8, 3), 0.45, 0.6, 0.6), "b": waves((3,), 1.7, 0.2, 0.1),
    }
    for v in params.values():
        v.requires_grad_()
    bn = torch.nn.BatchNorm2d(3).double()
    with torch.no_grad():
        bn.weight.copy_(params["gamma"])
        bn.bias.copy_(params["beta"])
    h = F.conv2d(x, params["w1"], params["b1"], padding=1)
    h = F.batch_norm(h, bn.running_mean, bn.running_var, params["gamma"], params["beta"], True, 0.1, 1e-5)
    h = F.max_pool2d(F.relu(h), 2)
    h = F.relu(F.conv2d(h, params["w2"], params["b2"]))
    logits = h.flatten(1) @ params["W"] + params["b"]
    loss = F.cross_entropy(logits, torch.tensor([0, 2, 1, 2]))
    loss.backward()
    lines = ["static const double cnn_loss = %r;" % loss.item(), c_array("cnn_dx", x.grad)]
    for name, v in params.items():
        lines.append(c_array("cnn_d" + name, v.grad))
    lines.append(c_array("cnn_running_mean", bn.running_mean))
    lines.append(c_array("cnn_running_var", bn.running_var))
    return "\n".join(lines)


def main():
    print("/* Generated by tools/conv_reference.py with PyTorch %s (float64): expected values for" % torch.__version__)
    print(" * tests/test_conv.c, test_pool.c and test_cnn.c. Do not edit; run the script again. */")
    print("#ifndef TG_TESTS_CONV_REFERENCE_H")
    print("#define TG_TESTS_CONV_REFERENCE_H\n")
    print("""/* value[i] = ((i mul) % mod - mod / 2) / div over the flat index i, in the given shape:
 * the inputs (exact binary fractions) that the values below come from */
static inline tg_tensor *reference_pattern(tg_tape *t, tg_dtype dtype, int ndim, const int64_t *shape,
                                           int64_t mul, int64_t mod, double div) {
    tg_tensor *x = tg_tensor_empty(t, dtype, ndim, shape);
    for (int64_t i = 0; x && i < x->numel; i++) tg_set(x, i, (double)((i * mul) % mod - mod / 2) / div);
    return x;
}

/* One convolution: shapes, options, and torch's y and the gradients of sum(y * r). */
typedef struct {
    const char *name;
    int64_t x[4], w[4];
    bool bias;
    tg_conv2d_opts opts;
    int64_t y_shape[4];
    const double *y, *dx, *dw, *db;
} conv_reference;
""")
    cases = [
        conv_case("conv_odd_padded", (2, 2, 5, 4), (3, 2, 3, 3), True, padding=(1, 1)),
        conv_case("conv_strided_batch1", (1, 2, 7, 8), (2, 2, 3, 2), False, stride=(2, 3), padding=(1, 2)),
        conv_case("conv_dilated", (1, 1, 7, 6), (2, 1, 3, 3), True, padding=(2, 2), dilation=(2, 2)),
        conv_case("conv_grouped", (2, 4, 4, 5), (4, 2, 2, 3), True, groups=2),
        conv_case("conv_depthwise", (1, 3, 5, 5), (3, 1, 3, 3), False, stride=(2, 2), padding=(1, 1), groups=3),
        conv_case("conv_pointwise", (2, 3, 3, 2), (4, 3, 1, 1), True),
        conv_case("conv_pointwise_strided", (1, 2, 5, 5), (3, 2, 1, 1), True, stride=(2, 2)),
        # 8 and more channels per group: the Winograd path (ops/conv_winograd.c)
        conv_case("winograd_padded", (2, 8, 5, 6), (8, 8, 3, 3), True, padding=(1, 1)),
        conv_case("winograd_grouped_unpadded_odd", (1, 16, 7, 5), (16, 8, 3, 3), False, groups=2),
        conv_case("winograd_padding_2x0", (2, 8, 3, 4), (9, 8, 3, 3), True, padding=(2, 0)),
        conv_case("winograd_transpose", (2, 8, 4, 5), (8, 9, 3, 3), True, padding=(1, 1), transposed=True),
        conv_case("transpose_strided", (1, 3, 3, 4), (3, 2, 3, 3), True, stride=(2, 2), padding=(1, 1),
                  transposed=True, output_padding=(1, 0)),
        conv_case("transpose_grouped_dilated", (2, 4, 3, 3), (4, 1, 2, 2), False, dilation=(2, 2), groups=2,
                  transposed=True),
    ]
    for c in cases:
        print(c + "\n")
    print("/* torch.nn.grad.conv2d_weight(x [2,4,5,5], [6,2,3,3], r [2,6,3,3], stride 2, padding 1, groups 2) */")
    print(weight_grad_case("weight_grad_grouped_strided", (2, 4, 5, 5), (2, 6, 3, 3), (3, 3), (2, 2), (1, 1), 2))
    print()
    pools = [
        pool_case("max_pool_2x2", "max", (2, 2, 5, 4), (2, 2), (2, 2), (0, 0)),
        pool_case("max_pool_3x3_stride2_pad1", "max", (1, 3, 7, 6), (3, 3), (2, 2), (1, 1)),
        pool_case("max_pool_overlapping", "max", (1, 2, 5, 5), (3, 2), (1, 1), (1, 0)),
        pool_case("avg_pool_2x2", "avg", (2, 2, 5, 4), (2, 2), (2, 2), (0, 0)),
        pool_case("avg_pool_3x3_stride2_pad1", "avg", (1, 3, 7, 6), (3, 3), (2, 2), (1, 1)),
        pool_case("avg_pool_overlapping", "avg", (1, 2, 5, 5), (3, 2), (1, 1), (1, 0)),
    ]
    for p in pools:
        print(p + "\n")
    print("/* a small CNN with batchnorm, tests/test_cnn.c */")
    print(cnn_case() + "\n")
    print("#endif")


if __name__ == "__main__":
    main()
