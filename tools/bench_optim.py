#!/usr/bin/python3
"""tapegrad's optimizer step beside torch.optim, same run.

    /usr/bin/python3 tools/bench_optim.py --tg build/tg [--tg-old OTHER/tg] [--rounds 3] [--time 1.0]

The steps of `tg bench --op optim` (see tools/bench_optim.c): SGD lr 0.05
momentum 0.9, and Adam with its defaults, over the parameters of the MLP
784-256-256-10 with batchnorm (270,346 f32 values), gradients fixed. PyTorch
runs torch.optim.SGD / Adam with foreach=False (one kernel per tensor and
operation) and foreach=True (the multi-tensor path), with 1 and 2 intra-op
threads; its best is the reference. tapegrad runs with 1 and 2 threads;
--tg-old adds another build of tg (the same tg bench source on an older
library) for a before/after. Every provider runs in its own process, each
round in a different order, glibc's malloc tuned not to give memory back
between steps; each reports the median step of the round, the table the
median over rounds. Speed = PyTorch's best / tapegrad (above 1: faster).

Benchmark only: needs python3-torch (a Debian package); nothing in the build
depends on it.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CASES = ("sgd", "adam")


def timed(step, budget, warmup=3, min_reps=20):
    for _ in range(warmup):
        step()
    times, start = [], time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < budget:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
        if len(times) >= 100000:
            break
    return statistics.median(times)


def worker(threads, foreach, budget):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(1)
    sizes = (784, 256, 256, 10)
    shapes = []
    for layer in range(3):
        shapes += [(sizes[layer + 1], sizes[layer]), (sizes[layer + 1],)]
        if layer < 2:
            shapes += [(sizes[layer + 1],), (sizes[layer + 1],)]
    for case in CASES:
        params = [torch.zeros(s, requires_grad=True) for s in shapes]
        for p in params:
            p.grad = 1e-3 * torch.randn(p.shape)
        if case == "sgd":
            opt = torch.optim.SGD(params, lr=0.05, momentum=0.9, foreach=foreach)
        else:
            opt = torch.optim.Adam(params, foreach=foreach)
        seconds = timed(opt.step, budget)
        print(json.dumps({"case": case, "seconds": seconds, "numel": sum(p.numel() for p in params)}), flush=True)


def run(cmd, env):
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        sys.exit("%s failed:\n%s" % (" ".join(cmd), out.stderr))
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tg", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "tg"))
    ap.add_argument("--tg-old", help="another tg build to compare with")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--time", type=float, default=1.0, help="seconds per case per provider per round")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--foreach", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.threads, bool(args.foreach), args.time)
        return

    base = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        base.pop(k, None)
    base.update(MALLOC_MMAP_THRESHOLD_="33554432", MALLOC_TRIM_THRESHOLD_="4294967296")
    builds = [("tapegrad", args.tg)] + ([("tapegrad old", args.tg_old)] if args.tg_old else [])
    providers = [(name, (t,)) for name, _ in builds for t in (1, 2)]
    providers += [("torch", (t, foreach)) for t in (1, 2) for foreach in (0, 1)]
    paths = dict(builds)
    samples = {}  # (provider, setting, case) -> [seconds per round]
    for r in range(args.rounds):
        for lib, setting in providers[r % len(providers):] + providers[:r % len(providers)]:
            env = dict(base, OMP_NUM_THREADS=str(setting[0]))
            if lib == "torch":
                rows = run([sys.executable, os.path.abspath(__file__), "--worker", "--threads", str(setting[0]),
                            "--foreach", str(setting[1]), "--time", str(args.time)], env)
            else:
                rows = run([paths[lib], "bench", "--op", "optim", "--dtype", "f32", "--json", "--time",
                            str(args.time)], env)
            for row in rows:
                samples.setdefault((lib, setting, row["case"]), []).append(row["seconds"])
        print("round %d of %d done" % (r + 1, args.rounds), file=sys.stderr, flush=True)

    def median(lib, setting, case):
        return statistics.median(samples[(lib, setting, case)])

    print("optimizer step over 270,346 f32 values (MLP 784-256-256-10 + batchnorm); medians of %d alternated "
          "rounds, PyTorch %s" % (args.rounds, torch_version()))
    header = "%-5s %-28s" % ("case", "PyTorch (threads, foreach)")
    for name, _ in builds:
        header += " %14s %14s" % (name + " 1t", name + " 2t")
    print(header + "  speed 1t  speed 2t" + ("  new/old 1t  new/old 2t" if args.tg_old else ""))
    for case in CASES:
        torch_rows = {s: median("torch", s, case) for (lib, s, c) in samples if lib == "torch" and c == case}
        detail = ", ".join("%dt %s %.1f" % (s[0], "foreach" if s[1] else "for", v * 1e6) for s, v in
                           sorted(torch_rows.items()))
        best = min(torch_rows.values())
        line = "%-5s %-28s" % (case, "%.1f us" % (best * 1e6))
        for name, _ in builds:
            line += " %11.1f us %11.1f us" % (median(name, (1,), case) * 1e6, median(name, (2,), case) * 1e6)
        tg1, tg2 = median("tapegrad", (1,), case), median("tapegrad", (2,), case)
        line += "  %8.2f  %8.2f" % (best / tg1, best / tg2)
        if args.tg_old:
            line += "  %10.2f  %10.2f" % (median("tapegrad old", (1,), case) / tg1,
                                           median("tapegrad old", (2,), case) / tg2)
        print(line)
        print("      PyTorch: %s (us)" % detail)


def torch_version():
    try:
        import torch

        return torch.__version__
    except ImportError:
        return "?"


if __name__ == "__main__":
    main()
