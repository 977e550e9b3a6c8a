#!/usr/bin/python3
"""tapegrad's engine workloads beside PyTorch, same run.

    /usr/bin/python3 tools/bench_engine.py --tg build/tg [--rounds 3] [--time 1.0]

The workloads of `tg bench --op scalar|mlp-bn|batchnorm|elementwise` (see
tools/bench_engine.c), written the same way in PyTorch:

  scalar       y = tanh(y * 1.0001 + 0.0001), 100k ops on a 0-d f32, then backward
  mlp-bn       MLP 784-256-256-10 with BatchNorm1d + ReLU after each hidden layer,
               cross-entropy + L2 penalty (1e-4/2 * sum of squared parameters),
               SGD momentum 0.9, batch 128, f32: zero_grad, forward, backward, step
  batchnorm    F.batch_norm (training) of x [256,1024] f32 and backward with a
               given grad_output; x, weight and bias get gradients
  elementwise  relu(x * a + b), x [16M] f32, scalars a and b, all requiring a
               gradient, backward with a given grad_output; PyTorch also written
               by hand with preallocated outputs (no autograd, no allocation)

tapegrad runs with 1 and with 2 threads, and timed (`tg bench --timed`: 2
threads, or 1 where timing steps finds it faster, as `tg train` by default);
PyTorch with every split of intra-op and OpenBLAS threads (1/1, 1/2, 2/1,
2/2), its best split is the reference (in brackets), glibc's malloc tuned not
to give memory back between steps.
With --wait-policy passive every provider runs with OMP_WAIT_POLICY=passive
(idle OpenMP threads sleep instead of spinning: on a machine that other
programs keep busy, spinning threads take the CPU from the working ones).
Every provider runs in its own process, each round in a different order;
each reports the median step time of the round, and the table shows the
median over rounds. Speed = PyTorch time / tapegrad time (above 1: tapegrad
is faster).

Benchmark only: needs python3-torch (a Debian package); nothing in the build
depends on it.
"""
import argparse
import json
import os
import statistics
import sys

from bench_matmul import run, torch_version
from bench_optim import timed

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = ("scalar", "mlp-bn", "batchnorm", "elementwise")
GOALS = {"scalar": "<= 0.2 us/op", "mlp-bn": "<= 0.8 ms", "batchnorm": "<= 0.25 ms", "elementwise": "<= 12 ms"}
CHAIN_ITERATIONS = 33334  # 3 ops each, as in tools/bench_engine.c


def torch_scalar(torch, budget):
    y0 = torch.tensor(0.5, requires_grad=True)

    def step():
        y = y0
        for _ in range(CHAIN_ITERATIONS):
            y = torch.tanh(y * 1.0001 + 0.0001)
        y0.grad = None
        y.backward()

    return timed(step, budget, warmup=1, min_reps=3)


def torch_mlp_bn(torch, budget):
    nn = torch.nn
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(784, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 256),
                          nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 10))
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(128, 784)
    labels = torch.randint(0, 10, (128,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), labels) + 1e-4 / 2 * sum((p * p).sum() for p in params)
        loss.backward()
        opt.step()

    return timed(step, budget, warmup=2, min_reps=5)


def torch_batchnorm(torch, budget):
    F = torch.nn.functional
    x = torch.randn(256, 1024, requires_grad=True)
    weight = torch.ones(1024, requires_grad=True)
    bias = torch.zeros(1024, requires_grad=True)
    running_mean, running_var = torch.zeros(1024), torch.ones(1024)
    g = torch.randn(256, 1024)

    def step():
        y = F.batch_norm(x, running_mean, running_var, weight, bias, training=True, momentum=0.1, eps=1e-5)
        x.grad = weight.grad = bias.grad = None
        y.backward(g)

    return timed(step, budget, warmup=2, min_reps=5)


def torch_elementwise(torch, budget):
    n = 16 << 20
    x = torch.rand(n).mul_(2).sub_(1).requires_grad_(True)
    a = torch.tensor(1.5, requires_grad=True)
    b = torch.tensor(0.1, requires_grad=True)
    g = torch.rand(n)

    def step():
        y = torch.relu(x * a + b)
        x.grad = a.grad = b.grad = None
        y.backward(g)

    return timed(step, budget, warmup=1, min_reps=3)


def torch_elementwise_preallocated(torch, budget):
    """The same computation written by hand with every buffer allocated once."""
    n = 16 << 20
    x = torch.rand(n).mul_(2).sub_(1)
    a, b = torch.tensor(1.5), torch.tensor(0.1)
    g = torch.rand(n)
    pre, y, gz, dx = torch.empty(n), torch.empty(n), torch.empty(n), torch.empty(n)
    mask = torch.empty(n, dtype=torch.bool)

    def step():
        torch.mul(x, a, out=pre)
        pre.add_(b)
        torch.clamp(pre, min=0, out=y)
        torch.gt(pre, 0, out=mask)
        torch.mul(g, mask, out=gz)
        torch.mul(gz, a, out=dx)
        torch.dot(gz, x)  # dL/da
        gz.sum()  # dL/db

    return timed(step, budget, warmup=1, min_reps=3)


TORCH = {"scalar": torch_scalar, "mlp-bn": torch_mlp_bn, "batchnorm": torch_batchnorm,
         "elementwise": torch_elementwise, "elementwise-preallocated": torch_elementwise_preallocated}


def worker(threads, budget, names):
    import torch

    torch.set_num_threads(threads)
    for name in names:
        seconds = TORCH[name](torch, budget)
        print(json.dumps({"op": name, "seconds": seconds}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tg", default=os.path.join(HERE, "..", "build", "tg"), help="the tg program")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--time", type=float, default=1.0, help="seconds per workload per provider per round")
    ap.add_argument("--ops", default=",".join(WORKLOADS), help="comma-separated workloads")
    ap.add_argument("--wait-policy", choices=["default", "passive"], default="default",
                    help="OMP_WAIT_POLICY for every provider (default: libgomp's spin-then-sleep)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    names = [n for n in args.ops.split(",") if n]
    for n in names:
        if n not in WORKLOADS and not args.worker:
            sys.exit("unknown workload %s (choose from %s)" % (n, ", ".join(WORKLOADS)))
    if args.worker:
        worker(args.threads, args.time, names)
        return

    base = dict(os.environ)
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        base.pop(k, None)
    base.update(MALLOC_MMAP_THRESHOLD_="33554432", MALLOC_TRIM_THRESHOLD_="4294967296")
    base.pop("OMP_WAIT_POLICY", None)
    if args.wait_policy == "passive":
        base["OMP_WAIT_POLICY"] = "passive"
    torch_names = names + (["elementwise-preallocated"] if "elementwise" in names else [])
    # providers: (label, threads / thread split)
    providers = [("tapegrad", 1), ("tapegrad", 2), ("timed", 2)]
    providers += [("torch", s) for s in ((1, 1), (1, 2), (2, 1), (2, 2))]
    samples = {}  # (provider, split, op) -> [seconds per round]
    for r in range(args.rounds):
        for lib, split in providers[r % len(providers):] + providers[:r % len(providers)]:
            if lib in ("tapegrad", "timed"):  # timed: threads chosen by timing steps (tg train's default)
                env = dict(base, OMP_NUM_THREADS=str(split))
                timed = ["--timed"] if lib == "timed" else []
                rows = [row for n in names
                        for row in run([args.tg, "bench", "--op", n, "--json", "--time", str(args.time)] + timed, env)]
            else:
                env = dict(base, OMP_NUM_THREADS=str(split[0]), OPENBLAS_NUM_THREADS=str(split[1]))
                rows = run([sys.executable, os.path.abspath(__file__), "--worker", "--threads", str(split[0]),
                            "--time", str(args.time), "--ops", ",".join(torch_names)], env)
            for row in rows:
                samples.setdefault((lib, split, row["op"]), []).append(row["seconds"])
        print("round %d of %d done" % (r + 1, args.rounds), file=sys.stderr, flush=True)

    def median(lib, split, op):
        return statistics.median(samples[(lib, split, op)])

    def best_torch(op):
        splits = [s for (lib, s, o) in samples if lib == "torch" and o == op]
        split = min(splits, key=lambda s: median("torch", s, op))
        return median("torch", split, op), split

    def show(op, seconds):
        if op == "scalar":
            return "%.3f us/op" % (seconds / (3 * CHAIN_ITERATIONS) * 1e6)
        return "%.3f ms" % (seconds * 1e3)

    print("tapegrad at 1 and 2 threads, and timed (2 threads, or 1 where timing steps finds it faster: tg train's "
          "default); PyTorch %s, best of its intra-op/OpenBLAS thread splits [in brackets]; medians of %d alternated "
          "rounds; OMP_WAIT_POLICY %s" % (torch_version(), args.rounds, args.wait_policy))
    print("%-12s %-22s %-14s %-14s %-14s %8s %8s %8s  %s" % ("workload", "PyTorch", "tapegrad 1t", "tapegrad 2t",
                                                            "timed", "speed 1t", "speed 2t", "timed", "goal"))
    for op in names:
        torch_s, split = best_torch(op)
        tg1, tg2, tgt = median("tapegrad", 1, op), median("tapegrad", 2, op), median("timed", 2, op)
        print("%-12s %-22s %-14s %-14s %-14s %8.2f %8.2f %8.2f  %s" % (
            op, "%s [%d/%d]" % (show(op, torch_s), split[0], split[1]), show(op, tg1), show(op, tg2), show(op, tgt),
            torch_s / tg1, torch_s / tg2, torch_s / tgt, GOALS[op]))
        if op == "elementwise":
            pre_s, pre_split = best_torch("elementwise-preallocated")
            print("%-12s %-22s %-14s %-14s %-14s %8.2f %8.2f %8.2f  (PyTorch by hand, preallocated outputs, no "
                  "autograd)" % ("", "%s [%d/%d]" % (show(op, pre_s), pre_split[0], pre_split[1]), "", "", "",
                                 pre_s / tg1, pre_s / tg2, pre_s / tgt))
    if "mlp-bn" in names:
        print("mlp-bn: tapegrad 2 threads / 1 thread speed-up %.2f; timed / the better fixed count %.2f" % (
            median("tapegrad", 1, "mlp-bn") / median("tapegrad", 2, "mlp-bn"),
            min(median("tapegrad", 1, "mlp-bn"), median("tapegrad", 2, "mlp-bn")) / median("timed", 2, "mlp-bn")))


if __name__ == "__main__":
    main()
