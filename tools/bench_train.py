#!/usr/bin/python3
"""`tg train` beside PyTorch on the same Fashion-MNIST training run, same machine, same run.

    /usr/bin/python3 tools/bench_train.py --tg build/tg [--rounds 2] [--epochs 5] [--model mlp|cnn]

The model and settings are the README's: MLP 784-256-256-10 with batchnorm and
relu, L2 penalty 1e-4 (lambda/2 sum w^2 over every parameter) added to the
cross-entropy, SGD momentum 0.9 lr 0.05, batch 128, shuffled every epoch,
features standardised per pixel with the training split's mean and std, f32.
--model cnn: `tg train --model cnn`'s network instead, conv 3x3 1->32 (no
bias) -> BatchNorm2d -> relu -> max pool 2 -> conv 3x3 32->64 -> BatchNorm2d
-> relu -> max pool 2 -> linear 3136->128 -> relu -> dropout 0.25 -> linear
128->10, same training settings with its cosine schedule (CosineAnnealingLR
over the run's steps).
Each round runs tapegrad (its default: 2 threads, or 1 where timing steps
finds it faster; then exactly 2 and exactly 1) and then PyTorch (with 1 and 2
intra-op threads) in their own processes; printed per run: seconds per epoch
of training (data loading and the per-epoch evaluation excluded; both report
them apart), the final test accuracy, and the process's peak RSS. The ratio
is PyTorch's best s/epoch over tapegrad's median (above 1: tapegrad is
faster).

Benchmark only: needs python3-torch and python3-numpy (Debian packages) and
dataset-fashion-mnist; nothing in the build depends on them. PyTorch runs
with glibc's malloc tuned not to return memory between steps.
"""
import argparse
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import time

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    import numpy as np

    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def torch_model(name):
    import torch

    nn = torch.nn
    if name == "cnn":
        return nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 32, 3, padding=1, bias=False),
                             nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1, bias=False),
                             nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3136, 128),
                             nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))
    return nn.Sequential(nn.Linear(784, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 256),
                         nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 10))


def torch_worker(threads, epochs, data, model_name):
    """Trains in PyTorch; prints one JSON line."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(1)
    start = time.perf_counter()
    x_train = read_idx(f"{data}/train-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255
    y_train = read_idx(f"{data}/train-labels-idx1-ubyte.gz").astype(np.int64)
    x_test = read_idx(f"{data}/t10k-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255
    y_test = read_idx(f"{data}/t10k-labels-idx1-ubyte.gz").astype(np.int64)
    mean, std = x_train.mean(0), x_train.std(0)
    std[std == 0] = 1
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    x_train, y_train = torch.from_numpy(x_train), torch.from_numpy(y_train)
    x_test, y_test = torch.from_numpy(x_test), torch.from_numpy(y_test)
    load = time.perf_counter() - start

    nn = torch.nn
    model = torch_model(model_name)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    params = list(model.parameters())
    n = x_train.shape[0]
    # the cnn's cosine schedule (tg train's default for it): lr 0.05 down to 0 over the run's steps
    steps = epochs * ((n + 127) // 128)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if model_name == "cnn" else None
    epoch_seconds, accuracy = [], 0.0
    for epoch in range(epochs):
        model.train()
        t0 = time.perf_counter()
        order = torch.randperm(n)
        for i in range(0, n, 128):
            idx = order[i : i + 128]
            loss = nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
            loss = loss + 0.5e-4 * sum((p * p).sum() for p in params)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if schedule:
                schedule.step()
        epoch_seconds.append(time.perf_counter() - t0)
        model.eval()
        with torch.no_grad():
            accuracy = torch.cat([model(x_test[i : i + 1000]).argmax(1) for i in range(0, len(x_test), 1000)])
            accuracy = (accuracy == y_test).float().mean().item()
    print(json.dumps({"epoch_seconds": epoch_seconds, "accuracy": accuracy, "load": load}), flush=True)


def run(cmd, env=None):
    """Runs cmd to the end: its stdout, and its peak RSS in MiB (from wait4)."""
    import tempfile

    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out}\n{err.read()}")
    return out, usage.ru_maxrss / 1024


def label(threads):
    return "default  " if threads == 0 else f"{threads} thread{'s' if threads > 1 else ' '}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tg", default="build/tg")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--model", default="mlp", choices=["mlp", "cnn"])
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        torch_worker(args.worker, args.epochs, args.data, args.model)
        return
    torch_env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="33554432", MALLOC_TRIM_THRESHOLD_="4294967296")
    torch_env.pop("OMP_NUM_THREADS", None)
    rows = []
    for r in range(args.rounds):
        for who, threads in (("tapegrad", 0), ("tapegrad", 2), ("tapegrad", 1), ("pytorch", 1), ("pytorch", 2)):
            if who == "tapegrad":
                cmd = [args.tg, "train", "--data", args.data, "--model", args.model, "--epochs", str(args.epochs)]
                cmd += ["--threads", str(threads)] if threads else []  # 0: the default
                env = None
            else:
                cmd = [sys.executable, os.path.abspath(__file__), "--worker", str(threads), "--epochs",
                       str(args.epochs), "--data", args.data, "--model", args.model]
                env = torch_env
            out, rss = run(cmd, env)
            if who == "tapegrad":
                epochs = [float(m) for m in re.findall(r"samples/s  ([0-9.]+)s", out)]
                acc = float(re.search(r"test accuracy ([0-9.]+)%", out).group(1)) / 100
                load = float(re.search(r"loaded in ([0-9.]+) s", out).group(1))
            else:
                result = json.loads(out.strip().splitlines()[-1])
                epochs, acc, load = result["epoch_seconds"], result["accuracy"], result["load"]
            rows.append({"who": who, "threads": threads, "round": r + 1, "per_epoch": statistics.median(epochs),
                         "accuracy": acc, "load": load, "rss": rss})
            print(f"round {r + 1}  {who:8s} {label(threads)}  "
                  f"{rows[-1]['per_epoch']:.3f} s/epoch  test acc {100 * acc:.2f}%  "
                  f"data loading {load:.2f} s  peak RSS {rss:.0f} MiB", flush=True)
    best = {}
    for row in rows:
        key = (row["who"], row["threads"])
        best.setdefault(key, []).append(row["per_epoch"])
    print("\nmedian s/epoch over rounds:")
    for (who, threads), values in sorted(best.items()):
        print(f"  {who:8s} {label(threads)}: {statistics.median(values):.3f}")
    tg_best = min(statistics.median(v) for (w, _), v in best.items() if w == "tapegrad")
    tg_default = statistics.median(best[("tapegrad", 0)])
    torch_best = min(statistics.median(v) for (w, _), v in best.items() if w == "pytorch")
    print(f"PyTorch best / tapegrad best: {torch_best / tg_best:.2f}x, / tapegrad default: "
          f"{torch_best / tg_default:.2f}x (above 1: tapegrad is faster)")


if __name__ == "__main__":
    main()
