#!/usr/bin/python3
"""tapegrad's matmul beside OpenBLAS (through NumPy) and PyTorch, same run.

    /usr/bin/python3 tools/bench_matmul.py --tg build/tg [--rounds 5] [--time 0.2] [--no-torch] [--cases REGEX]

Runs `tg bench --op matmul --json` with 1 and 2 threads and, on the same
shapes and transpose flags, numpy.matmul with 1 and 2 threads and
torch.matmul with every split of intra-op and OpenBLAS threads (1/1, 1/2,
2/1, 2/2), every provider in its own process, all of them `--rounds` times in
turn (the machine is noisy and shared: each round keeps the best time of a
case within its time budget, and the median over the rounds is reported).
Prints GFLOP/s per case of tapegrad and OpenBLAS with 1 thread and with 2
threads and their ratio at each thread count (above 1: tapegrad is faster),
PyTorch at its best split (in brackets) with the ratio of tapegrad's better
thread count to it, and tapegrad's speed-up from 1 to 2 threads. Then the same for a whole training
step of the MLP 784-512-512-10 (`tg bench --op mlp` against torch.nn).

Benchmark only: needs python3-numpy and python3-torch (Debian packages);
nothing in the build depends on them. OpenBLAS runs without
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (they pin a slower kernel), PyTorch with
glibc's malloc tuned not to return memory to the system between calls.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def best_time(call, budget, timed):
    """The best of repeated calls: 3 warm-up calls, then at least `timed` timed ones and `budget` seconds."""
    best, start, rep = 1e30, time.perf_counter(), 0
    while True:
        t0 = time.perf_counter()
        call()
        t1 = time.perf_counter()
        if rep >= 3:
            best = min(best, t1 - t0)
        rep += 1
        if rep >= 3 + timed and t1 - start > budget:
            return best


def worker(lib, threads, budget):
    """Times every case of `tg bench` with numpy or torch; prints JSON lines."""
    import numpy as np

    cases = [json.loads(line) for line in sys.stdin if line.strip()]
    if lib == "torch":
        import torch

        torch.set_num_threads(threads)
    info = ""
    if lib == "numpy":
        info = blas_name()
    rng = np.random.default_rng(1)
    for c in cases:
        if c["op"] == "mlp":
            if lib == "torch":
                seconds = torch_mlp_step(c["dtype"], c["batch"], budget)
                print(json.dumps({"case": c["case"], "dtype": c["dtype"], "seconds": seconds, "info": info}), flush=True)
            continue
        M, K, N, ta, tb = c["M"], c["K"], c["N"], c["ta"], c["tb"]
        dt = np.float32 if c["dtype"] == "f32" else np.float64
        a = rng.uniform(-1, 1, (K, M) if ta else (M, K)).astype(dt)
        b = rng.uniform(-1, 1, (N, K) if tb else (K, N)).astype(dt)
        out = np.empty((M, N), dt)
        if lib == "torch":
            a, b, out = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out)
            opa, opb = (a.t() if ta else a), (b.t() if tb else b)
            call = lambda: torch.matmul(opa, opb, out=out)
        else:
            opa, opb = (a.T if ta else a), (b.T if tb else b)
            call = lambda: np.matmul(opa, opb, out=out)
        best = best_time(call, budget, timed=5)
        print(json.dumps({"case": c["case"], "dtype": c["dtype"], "seconds": best, "info": info}), flush=True)


def torch_mlp_step(dtype, batch, budget):
    """Best time of one training step of the same MLP in PyTorch."""
    import torch

    torch.manual_seed(1)
    dt = torch.float32 if dtype == "f32" else torch.float64
    model = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512),
                                torch.nn.ReLU(), torch.nn.Linear(512, 10)).to(dt)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.rand(batch, 784, dtype=dt)
    y = torch.randint(0, 10, (batch,))
    best, start, rep = 1e30, time.perf_counter(), 0
    while True:
        t0 = time.perf_counter()
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        t1 = time.perf_counter()
        if rep >= 3:
            best = min(best, t1 - t0)
        rep += 1
        if rep >= 14 and t1 - start > budget:
            break
    return best


def blas_name():
    """The BLAS libraries mapped into this process (NumPy loads libblas.so.3)."""
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({os.path.basename(line.split()[-1]) for line in f if "blas" in line.lower()})
        return ", ".join(libs) or "unknown"
    except OSError:
        return "unknown"


def run(cmd, env, stdin=None):
    out = subprocess.run(cmd, env=env, input=stdin, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("%s failed:\n%s" % (" ".join(cmd), out.stderr))
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tg", default=os.path.join(HERE, "..", "build", "tg"), help="the tg program")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--time", type=float, default=0.2, help="seconds per case per provider per round")
    ap.add_argument("--dtype", default="all", choices=["f32", "f64", "all"])
    ap.add_argument("--no-torch", action="store_true", help="leave PyTorch out (tapegrad against OpenBLAS only)")
    ap.add_argument("--cases", default="", help="only the matmul cases whose name matches this regular expression")
    ap.add_argument("--worker", choices=["numpy", "torch"], help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.threads, args.time)
        return

    base = dict(os.environ)
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        base.pop(k, None)
    base.update(MALLOC_MMAP_THRESHOLD_="33554432", MALLOC_TRIM_THRESHOLD_="4294967296")
    tg_cmd = [args.tg, "bench", "--json", "--dtype", args.dtype, "--time", str(args.time)]
    ops = ("matmul",) if args.no_torch else ("matmul", "mlp")  # the MLP step is compared with PyTorch only

    times = {}  # (provider, case, dtype, split) -> [seconds of each round]
    cases, info = None, {}
    wanted = re.compile(args.cases)

    def keep(row):
        return row["op"] != "matmul" or wanted.search(row["case"])

    # each round runs every provider once, starting from a different one, so
    # that a burst of noise on the machine does not always hit the same one
    # thread splits: (intra-op threads, OpenBLAS threads); PyTorch's best split
    # here is often 1 intra-op thread with a 2-thread OpenBLAS underneath
    splits = {"tapegrad": [(1, 1), (2, 2)], "numpy": [(1, 1), (2, 2)],
              "torch": [] if args.no_torch else [(1, 1), (1, 2), (2, 1), (2, 2)]}
    providers = [(lib, split) for lib in ("tapegrad", "numpy", "torch") for split in splits[lib]]
    for r in range(args.rounds):
        for lib, split in providers[r % len(providers):] + providers[:r % len(providers)]:
            if lib == "tapegrad":
                rows = [row for op in ops for row in run(tg_cmd + ["--op", op, "--threads", str(split[0])], base)]
                rows = [row for row in rows if keep(row)]
                cases = cases or rows
                for row in rows:
                    times.setdefault(("tapegrad", row["case"], row["dtype"], split), []).append(row["seconds"])
                    info["tapegrad"] = row["kernel"]
                continue
            if cases is None:  # tapegrad's run lists the cases
                cases = [row for op in ops for row in run(tg_cmd + ["--op", op, "--time", "0.001"], base) if keep(row)]
            stdin = "".join(json.dumps(c) + "\n" for c in cases)
            threads, blas_threads = split
            env = dict(base, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(blas_threads))
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", lib, "--threads", str(threads),
                   "--time", str(args.time)]
            for row in run(cmd, env, stdin):
                times.setdefault((lib, row["case"], row["dtype"], split), []).append(row["seconds"])
                if row["info"]:
                    info[lib] = row["info"]
        print("round %d of %d done" % (r + 1, args.rounds), file=sys.stderr, flush=True)

    def seconds(lib, c, split):
        """median over the rounds"""
        return statistics.median(times[(lib, c["case"], c["dtype"], split)])

    def gflops(c, s):
        return 2.0 * c["M"] * c["N"] * c["K"] / s * 1e-9

    def fastest(lib, c):
        """(GFLOP/s, split) of lib's best thread split on case c"""
        g = {split: gflops(c, seconds(lib, c, split)) for split in splits[lib]}
        split = max(g, key=g.get)
        return g[split], split

    print("tapegrad %s kernel; OpenBLAS via numpy (%s)%s" % (
        info.get("tapegrad", "?"), info.get("numpy", "?"), "" if args.no_torch else "; PyTorch " + torch_version()))
    print("GFLOP/s, median over %d rounds of the best time in each; 1t / 2t: 1 / 2 threads, tg/OB: tapegrad / "
          "OpenBLAS at that thread count%s; tg 2t/1t: tapegrad's speed-up from 1 to 2 threads" % (
              args.rounds, "" if args.no_torch else "; PyTorch: best of its intra-op/OpenBLAS thread splits "
                                                   "1/1 1/2 2/1 2/2 [in brackets], against tapegrad's better "
                                                   "thread count"))
    header = "%-24s %-4s %5s %5s %5s %8s %8s %6s %8s %8s %6s" % (
        "case", "type", "M", "K", "N", "tg 1t", "OB 1t", "tg/OB", "tg 2t", "OB 2t", "tg/OB")
    if not args.no_torch:
        header += " %15s %8s" % ("PyTorch", "tg/torch")
    print(header + " %9s" % "tg 2t/1t")
    ratios = {}  # column name -> [ratio of each case]
    for c in cases:
        if c["op"] != "matmul":
            continue
        line = "%-24s %-4s %5d %5d %5d" % (c["case"], c["dtype"], c["M"], c["K"], c["N"])
        for split in splits["tapegrad"]:
            tg, ob = gflops(c, seconds("tapegrad", c, split)), gflops(c, seconds("numpy", c, split))
            ratios.setdefault("OpenBLAS, %d thread%s" % (split[0], "s" if split[0] > 1 else ""), []).append(tg / ob)
            line += " %8.1f %8.1f %6.2f" % (tg, ob, tg / ob)
        if not args.no_torch:
            tg, _ = fastest("tapegrad", c)
            g, split = fastest("torch", c)
            ratios.setdefault("PyTorch", []).append(tg / g)
            line += " %9.1f [%d/%d] %8.2f" % (g, split[0], split[1], tg / g)
        one, two = seconds("tapegrad", c, (1, 1)), seconds("tapegrad", c, (2, 2))
        print(line + " %9.2f" % (one / two))
    for name, r in ratios.items():
        geo = 1.0
        for x in r:
            geo *= x
        print("tapegrad / %s: geometric mean %.2f, min %.2f, max %.2f" % (name, geo ** (1.0 / len(r)), min(r), max(r)))
    for c in cases:
        if c["op"] != "mlp" or args.no_torch:
            continue
        tg_t = {split: seconds("tapegrad", c, split) for split in splits["tapegrad"]}
        tg_split = min(tg_t, key=tg_t.get)
        torch_t = {split: seconds("torch", c, split) for split in splits["torch"]}
        split = min(torch_t, key=torch_t.get)
        print("MLP 784-512-512-10 training step, batch %d, %s: tapegrad %.3f ms [threads %d], PyTorch %.3f ms "
              "[threads %d/%d]: tapegrad / PyTorch speed %.2f" % (c["batch"], c["dtype"], tg_t[tg_split] * 1e3,
                                                                  tg_split[0], torch_t[split] * 1e3, split[0],
                                                                  split[1], torch_t[split] / tg_t[tg_split]))


def torch_version():
    try:
        import torch

        return torch.__version__
    except ImportError:
        return "?"


if __name__ == "__main__":
    main()
