#!/bin/sh
# Data parallel on one machine: the Fashion-MNIST MLP (784-256-256-10,
# batchnorm, batch 128, f32) trained by
#   A: one process with 2 threads       build/tg bench --op dist --threads 2
#   B: two processes with 1 thread each  mpirun -n 2 build/tg bench --op dist --threads 1
#   C: one process with 1 thread        build/tg bench --op dist --threads 1  (the baseline)
# in turn, ROUNDS times (the machine is shared: only side-by-side ratios mean
# something). Prints each round's best step times (the steps least disturbed
# by other work; tg bench's JSON has the medians too), B / A, A and B's
# speed-ups over C, the share of B's best step spent in the gradient
# allreduce and in the batchnorm sums (their best times), the medians of the
# ratios, then the allreduce alone at a few sizes (best times, last round).
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

# the median of numbers, one per line on stdin
median() {
    sort -n | awk '{ v[NR] = $1 } END { printf "%.3f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

table=""
last=""
printf '%-6s %10s %10s %10s %8s %8s %8s %10s %8s\n' round "A 1x2 ms" "B 2x1 ms" "C 1x1 ms" "B/A" "C/A" "C/B" \
    allreduce "bn sums"
round=1
while [ "$round" -le "$rounds" ]; do
    a=$(timeout 300 "$tg" bench --op dist --dtype f32 --time "$budget" --threads 2 --json | grep '"mlp step"')
    last=$(timeout 300 mpirun -n 2 "$tg" bench --op dist --dtype f32 --time "$budget" --threads 1 --json)
    b=$(printf '%s\n' "$last" | grep '"mlp step"')
    c=$(timeout 300 "$tg" bench --op dist --dtype f32 --time "$budget" --threads 1 --json | grep '"mlp step"')
    row=$(awk -v a="$(field "$a" best_step_seconds)" -v b="$(field "$b" best_step_seconds)" \
        -v c="$(field "$c" best_step_seconds)" -v ar="$(field "$b" best_allreduce_seconds)" \
        -v bn="$(field "$b" best_batchnorm_sum_seconds)" 'BEGIN {
        printf "%.3f %.3f %.3f %.3f %.3f %.3f %.1f %.1f", 1e3 * a, 1e3 * b, 1e3 * c, b / a, c / a, c / b,
               100 * ar / b, 100 * bn / b }')
    table="$table$row
"
    # shellcheck disable=SC2086 # the row's fields
    printf '%-6d %10s %10s %10s %8s %8s %8s %9s%% %7s%%\n' "$round" $row
    round=$((round + 1))
done
printf 'medians over %d rounds: B/A %s, C/A %s, C/B %s, allreduce %s%% and batchnorm sums %s%% of B\n' "$rounds" \
    "$(printf '%s' "$table" | awk '{ print $4 }' | median)" "$(printf '%s' "$table" | awk '{ print $5 }' | median)" \
    "$(printf '%s' "$table" | awk '{ print $6 }' | median)" "$(printf '%s' "$table" | awk '{ print $7 }' | median)" \
    "$(printf '%s' "$table" | awk '{ print $8 }' | median)"
echo "the allreduce alone, 2 ranks (last round):"
printf '%s\n' "$last" | grep '"allreduce"' | while read -r line; do
    awk -v n="$(field "$line" bytes)" -v s="$(field "$line" seconds)" -v bus="$(field "$line" bus_gb_per_second)" 'BEGIN {
        printf "  %8d KiB  %8.3f ms  %6.2f GB/s bus\n", n / 1024, 1e3 * s, bus }'
done
