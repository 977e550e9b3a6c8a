#!/bin/sh
# Data parallel on one machine: the Fashion-MNIST MLP (784-256-256-10,
# batchnorm, batch 128, f32) trained by
#   A: one process with 2 threads       build/tg bench --op dist --threads 2
#   B: two processes with 1 thread each  mpirun -n 2 build/tg bench --op dist --threads 1
# alternated ROUNDS times (the machine is shared: only side-by-side ratios
# mean something). Prints each round's best step times (the steps least
# disturbed by other work; medians in the JSON of tg bench), B / A, the share
# of B's best step spent in the gradient allreduce and in the batchnorm sums
# (their best times), the median of the ratios, then the allreduce alone at a
# few sizes (best times).
#   sh tools/bench_dist.sh [ROUNDS] [SECONDS PER RUN]     (default 5 rounds of 2 s)
set -eu
cd "$(dirname "$0")/.."
rounds=${1:-5}
budget=${2:-2}
tg=build/tg
[ -x "$tg" ] || {
    echo "bench_dist: build tg first (cmake -S . -B build && cmake --build build)" >&2
    exit 1
}
command -v mpirun >/dev/null 2>&1 || {
    echo "bench_dist: mpirun not found (Debian: openmpi-bin)" >&2
    exit 1
}
if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

# the value of "key" in a JSON line
field() { # LINE KEY
    printf '%s\n' "$1" | sed -n "s/.*\"$2\": \([0-9.e+-]*\).*/\1/p"
}

ratios=""
last=""
printf '%-6s %12s %12s %8s %12s %12s\n' round "A 1x2 ms" "B 2x1 ms" "B/A" "allreduce" "bn sums"
round=1
while [ "$round" -le "$rounds" ]; do
    a=$(timeout 300 "$tg" bench --op dist --dtype f32 --time "$budget" --threads 2 --json | grep '"mlp step"')
    last=$(timeout 300 mpirun -n 2 "$tg" bench --op dist --dtype f32 --time "$budget" --threads 1 --json)
    b=$(printf '%s\n' "$last" | grep '"mlp step"')
    sa=$(field "$a" best_step_seconds)
    sb=$(field "$b" best_step_seconds)
    ar=$(field "$b" best_allreduce_seconds)
    bn=$(field "$b" best_batchnorm_sum_seconds)
    ratio=$(awk -v a="$sa" -v b="$sb" 'BEGIN { printf "%.3f", b / a }')
    ratios="$ratios $ratio"
    awk -v r="$round" -v a="$sa" -v b="$sb" -v q="$ratio" -v ar="$ar" -v bn="$bn" 'BEGIN {
        printf "%-6d %12.3f %12.3f %8s %11.1f%% %11.1f%%\n", r, 1e3 * a, 1e3 * b, q, 100 * ar / b, 100 * bn / b }'
    round=$((round + 1))
done
# shellcheck disable=SC2086 # one ratio per line
printf '%s\n' $ratios | sort -n | awk '{ v[NR] = $1 } END {
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "median B/A over %d rounds: %.3f (min %.3f, max %.3f)\n", NR, m, v[1], v[NR] }'
echo "the allreduce alone, 2 ranks (last round):"
printf '%s\n' "$last" | grep '"allreduce"' | while read -r line; do
    awk -v n="$(field "$line" bytes)" -v s="$(field "$line" seconds)" -v bus="$(field "$line" bus_gb_per_second)" 'BEGIN {
        printf "  %8d KiB  %8.3f ms  %6.2f GB/s bus\n", n / 1024, 1e3 * s, bus }'
done
