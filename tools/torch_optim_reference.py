#!/usr/bin/python3
"""The expected values of tests/test_optim_torch.c, from torch 1.13.

    /usr/bin/python3 tools/torch_optim_reference.py

Runs torch.optim.SGD / Adam / AdamW (foreach=False, the per-tensor code) on
a tiny model: three parameters, fc.weight [2,3], fc.bias [3], bn.weight [3],
for STEPS steps with fixed gradients, and prints every parameter's values
after the last step as C initialisers, in f64 and f32. The tests set up the
same model with tapegrad and compare (f64 to 1e-12, f32 to 1e-6).

Starting values and gradients are the same numbers in C and Python:
  w[i] = (i % 5 - 2) * 0.3 + 0.1          (i the element's index within the parameter)
  grad at step k = ((7 i + 3 k + p) % 11 - 5) / 4   (p the parameter's index; exact in binary)
A case may drop a parameter's gradient (None: the step skips it) at one step.
Run it, and paste what it prints into the test when a case changes.
"""
import torch

STEPS = 5
SHAPES = [("fc.weight", (2, 3)), ("fc.bias", (3,)), ("bn.weight", (3,))]


def start(dtype):
    params = []
    for name, shape in SHAPES:
        n = 1
        for d in shape:
            n *= d
        values = [(i % 5 - 2) * 0.3 + 0.1 for i in range(n)]
        params.append(torch.tensor(values, dtype=torch.float64).reshape(shape).to(dtype).requires_grad_())
    return params


def grad(p_index, k, numel):
    return [((7 * i + 3 * k + p_index) % 11 - 5) / 4 for i in range(numel)]


def run(make, dtype, no_grad=None, lr_factor=None):
    """make(params) -> optimizer; no_grad = (param index, step) with no gradient;
    lr_factor(step) -> factor on every group's initial lr before that step (a scheduler)."""
    params = start(dtype)
    opt = make(params)
    base = [g["lr"] for g in opt.param_groups]
    for k in range(STEPS):
        if lr_factor:
            for g, b in zip(opt.param_groups, base):
                g["lr"] = b * lr_factor(k)
        for j, p in enumerate(params):
            if no_grad == (j, k):
                p.grad = None
            else:
                p.grad = torch.tensor(grad(j, k, p.numel()), dtype=torch.float64).reshape(p.shape).to(dtype)
        opt.step()
    return [v for p in params for v in p.detach().to(torch.float64).reshape(-1).tolist()]


def groups(params, default, bias):
    """fc.weight in the default group, fc.bias and bn.weight in a second one with `bias` overrides"""
    return [dict(params=[params[0]], **default), dict(params=params[1:], **bias)]


CASES = {
    "sgd_momentum_dampening_decay": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.3,
                                                              weight_decay=0.01, foreach=False),
    "sgd_nesterov_decay": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.05,
                                                    foreach=False),
    "sgd_maximize_momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.5, maximize=True, foreach=False),
    "sgd_groups": lambda p: torch.optim.SGD(
        groups(p, dict(lr=0.1, weight_decay=0.1), dict(lr=0.05, weight_decay=0.0, momentum=0.5)),
        lr=0.1, momentum=0.9, foreach=False),
    "adam_amsgrad_decay": lambda p: torch.optim.Adam(p, lr=0.1, betas=(0.9, 0.9), weight_decay=0.01, amsgrad=True,
                                                     foreach=False),
    "adam_maximize": lambda p: torch.optim.Adam(p, lr=0.1, maximize=True, foreach=False),
    "adamw_amsgrad": lambda p: torch.optim.AdamW(p, lr=0.05, betas=(0.8, 0.9), weight_decay=0.1, amsgrad=True,
                                                 foreach=False),
    "adam_groups": lambda p: torch.optim.Adam(
        groups(p, dict(weight_decay=0.1), dict(lr=0.2, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.0)),
        lr=0.1, foreach=False),
    "adamw_groups": lambda p: torch.optim.AdamW(
        groups(p, dict(), dict(weight_decay=0.0)), lr=0.1, weight_decay=0.2, foreach=False),
}
# bn.weight has no gradient at step 2 (per-parameter step counts); the lr halves from step 3
EXTRAS = {
    "adam_groups": dict(no_grad=(2, 2), lr_factor=lambda k: 0.5 if k >= 3 else 1.0),
    "sgd_groups": dict(no_grad=(2, 2), lr_factor=lambda k: 0.5 if k >= 3 else 1.0),
}


def c_array(values):
    return "{" + ", ".join(repr(v) for v in values) + "}"


if __name__ == "__main__":
    print("/* torch %s, %d steps */" % (torch.__version__, STEPS))
    for name, make in CASES.items():
        extra = EXTRAS.get(name, {})
        for dtype, suffix in ((torch.float64, "f64"), (torch.float32, "f32")):
            print("static const double %s_%s[12] = %s;" % (name, suffix, c_array(run(make, dtype, **extra))))
