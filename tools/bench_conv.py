#!/usr/bin/python3
"""tapegrad's conv2d and max_pool2d beside PyTorch's, same run.

    /usr/bin/python3 tools/bench_conv.py --tg build/tg [--rounds 3] [--time 0.5] [--dtype f32|f64|all]

Runs `tg bench --op conv --json` (conv 3x3 1->32 on 28x28 and 32->64 on
14x14 with padding 1, 2x2 max pooling on [128,32,28,28] and [128,64,14,14],
batch 128: the forward pass alone, then forward + backward; then one whole
training step of `tg train --model cnn`'s network, forward with the loss
alone, then the step with SGD momentum) with 1 and 2 threads, and the same cases in PyTorch (torch.nn.functional.conv2d /
max_pool2d, backward with the same grad_output) with every split of intra-op
and OpenBLAS threads (1/1, 1/2, 2/1, 2/2), each in its own process, all of
them `--rounds` times in turn, starting from a different one each round; the
best time of each case over every round is kept, for each side the best of
its thread counts (in brackets). Prints milliseconds, the speed ratio
PyTorch time / tapegrad time (above 1: tapegrad is faster) and each side's
peak RSS (the largest process over the rounds).

Benchmark only: needs python3-torch (Debian); nothing in the build depends on
it. PyTorch runs with glibc's malloc tuned not to return memory to the system
between calls (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_) and OpenBLAS
without OPENBLAS_CORETYPE.
"""
import argparse
import json
import os
import resource
import sys

from bench_matmul import best_time, run

HERE = os.path.dirname(os.path.abspath(__file__))


def worker(threads, budget):
    """Times every case of `tg bench --op conv` in PyTorch; prints JSON lines."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(1)
    for c in (json.loads(line) for line in sys.stdin if line.strip()):
        dt = torch.float32 if c["dtype"] == "f32" else torch.float64
        if c.get("cnn"):
            cnn_step(c, dt, budget)
            continue
        x = torch.rand(c["x"], dtype=dt) * 2 - 1
        x.requires_grad_(bool(c["input_grad"]))
        if c["pool"]:
            forward = lambda: F.max_pool2d(x, 2)
            params = []
        else:
            w = (torch.rand(c["out_channels"], c["x"][1], 3, 3, dtype=dt) - 0.5).requires_grad_()
            b = torch.zeros(c["out_channels"], dtype=dt, requires_grad=True)
            forward = lambda: F.conv2d(x, w, b, padding=1)
            params = [w, b]
        g = torch.rand(forward().shape, dtype=dt) * 2 - 1

        def step():
            for p in params + [x]:
                p.grad = None
            forward().backward(g)

        fwd = best_time(forward, budget, timed=11)
        both = best_time(step, budget, timed=11)
        print(json.dumps({"case": c["case"], "dtype": c["dtype"], "forward_seconds": fwd, "seconds": both,
                          "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}), flush=True)


def cnn_step(c, dt, budget):
    """The "cnn training step" case: bench_train.py's CNN, one SGD step on a batch of 128."""
    import torch
    from bench_train import torch_model

    model = torch_model("cnn").to(dt)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    params = list(model.parameters())
    x = torch.rand(128, 784, dtype=dt) * 2 - 1
    y = torch.randint(0, 10, (128,))

    def forward():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        return loss + 0.5e-4 * sum((p * p).sum() for p in params)

    def step():
        loss = forward()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    fwd = best_time(forward, budget, timed=11)
    both = best_time(step, budget, timed=11)
    print(json.dumps({"case": c["case"], "dtype": c["dtype"], "forward_seconds": fwd, "seconds": both,
                      "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tg", default=os.path.join(HERE, "..", "build", "tg"), help="the tg program")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--time", type=float, default=0.5, help="seconds per case per provider per round")
    ap.add_argument("--dtype", default="f32", choices=["f32", "f64", "all"])
    ap.add_argument("--tg-threads", default="1,2", help="thread counts tried for tapegrad")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.threads, args.time)
        return

    base = dict(os.environ)
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        base.pop(k, None)
    base.update(MALLOC_MMAP_THRESHOLD_="33554432", MALLOC_TRIM_THRESHOLD_="4294967296")
    tg_cmd = [args.tg, "bench", "--op", "conv", "--json", "--dtype", args.dtype, "--time", str(args.time)]
    tg_threads = [int(n) for n in args.tg_threads.split(",")]

    splits = [(1, 1), (1, 2), (2, 1), (2, 2)]  # (intra-op threads, OpenBLAS threads)
    providers = [("tapegrad", n) for n in tg_threads] + [("torch", s) for s in splits]
    best, rss, cases = {}, {}, None  # best[(provider, split, case, dtype, key)] = seconds
    for r in range(args.rounds):
        for lib, split in providers[r % len(providers):] + providers[:r % len(providers)]:
            if lib == "tapegrad":
                rows = run(tg_cmd + ["--threads", str(split)], base)
                cases = cases or rows
            else:  # round 0 starts with tapegrad, whose rows list the cases
                env = dict(base, OMP_NUM_THREADS=str(split[0]), OPENBLAS_NUM_THREADS=str(split[1]))
                cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--threads", str(split[0]),
                       "--time", str(args.time)]
                rows = run(cmd, env, "".join(json.dumps(c) + "\n" for c in cases))
            for row in rows:
                for key in ("forward_seconds", "seconds"):
                    k = (lib, split, row["case"], row["dtype"], key)
                    best[k] = min(best.get(k, 1e30), row[key])
                rss[lib] = max(rss.get(lib, 0), row["peak_rss_kb"])
        print("round %d of %d done" % (r + 1, args.rounds), file=sys.stderr, flush=True)

    import torch

    print("tapegrad: %s GEMM kernel, best of %s threads; PyTorch %s: best of its intra-op/OpenBLAS thread "
          "splits 1/1 1/2 2/1 2/2; best over %d rounds (the thread count used in brackets)"
          % (cases[0]["kernel"], "/".join(map(str, tg_threads)), torch.__version__, args.rounds))
    print("%-24s %-4s %-9s %14s %15s %8s" % ("case (batch 128)", "type", "pass", "tapegrad", "PyTorch", "speed"))
    ratios = []
    for c in cases:
        for key, label in (("forward_seconds", "forward"), ("seconds", "step" if c.get("cnn") else "fwd+bwd")):
            tg_t = {n: best[("tapegrad", n, c["case"], c["dtype"], key)] for n in tg_threads}
            n = min(tg_t, key=tg_t.get)
            torch_t = {s: best[("torch", s, c["case"], c["dtype"], key)] for s in splits}
            s = min(torch_t, key=torch_t.get)
            ratios.append(torch_t[s] / tg_t[n])
            print("%-24s %-4s %-9s %7.2f ms [%d] %8.2f ms [%d/%d] %8.2f" % (
                c["case"], c["dtype"], label, tg_t[n] * 1e3, n, torch_t[s] * 1e3, s[0], s[1], torch_t[s] / tg_t[n]))
    geo = 1.0
    for x in ratios:
        geo *= x
    print("speed PyTorch time / tapegrad time: geometric mean %.2f, min %.2f, max %.2f"
          % (geo ** (1.0 / len(ratios)), min(ratios), max(ratios)))
    step = [c for c in cases if c.get("cnn")]
    for c in step:  # an epoch of Fashion-MNIST is 469 steps of 128
        tg_s = min(best[("tapegrad", n, c["case"], c["dtype"], "seconds")] for n in tg_threads)
        torch_s = min(best[("torch", s, c["case"], c["dtype"], "seconds")] for s in splits)
        print("cnn epoch (469 steps) %s: tapegrad %.1f s, PyTorch %.1f s" % (c["dtype"], tg_s * 469, torch_s * 469))
    print("peak RSS: tapegrad %.1f MiB, PyTorch %.1f MiB (largest process over the rounds)"
          % (rss["tapegrad"] / 1024.0, rss["torch"] / 1024.0))


if __name__ == "__main__":
    main()
