#!/bin/sh
# Fuzzes every loader of untrusted bytes with libFuzzer (clang):
#
#   sh tools/fuzz.sh [SECONDS] [TARGET...]
#
# Builds build-fuzz/ (clang, -DTG_FUZZ=ON: AddressSanitizer and
# UndefinedBehaviorSanitizer too), then runs each target (tests/fuzz/fuzz_*.c;
# all of them by default, or those named: checkpoint, ...) for SECONDS
# (default 3600) with its seed corpus tests/fuzz/corpus/<name> and dictionary
# tests/fuzz/<name>.dict. New inputs collect in build-fuzz/corpus/<name> (the
# repository's seeds are not changed; 'libFuzzer -merge=1' can fold them in)
# and a failing input is saved as build-fuzz/crashes/<name>/crash-*.
# tools/test.sh runs it for a few seconds per target. Prints one line per
# target, "fuzz <name>: N executions in S s, C crashes", and exits 1 if any
# target crashed (a broken promise aborts: see the target's CHECKs).
#
# Several hours on a quiet machine:  nohup sh tools/fuzz.sh 14400 > fuzz.log &
set -eu
cd "$(dirname "$0")/.."

seconds=${1:-3600}
[ $# -gt 0 ] && shift
case $seconds in
'' | *[!0-9]*)
    echo "tools/fuzz.sh: SECONDS must be a whole number, got '$seconds'" >&2
    exit 2
    ;;
esac

# Can clang build a libFuzzer program here? (Debian: clang libclang-rt-14-dev libomp-dev)
tg_fuzz_available() {
    command -v clang >/dev/null 2>&1 || return 1
    probe=$(mktemp -d "${TMPDIR:-/tmp}/tapegrad-fuzz-probe.XXXXXX")
    printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return (int)(d && n) * 0; }\n' \
        >"$probe/probe.c"
    if clang -fsanitize=fuzzer "$probe/probe.c" -o "$probe/probe" >/dev/null 2>&1; then
        rm -rf "$probe"
        return 0
    fi
    rm -rf "$probe"
    return 1
}

if ! tg_fuzz_available; then
    echo "tools/fuzz.sh: clang with libFuzzer is not available (Debian: clang libclang-rt-14-dev libomp-dev)" >&2
    exit 3
fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTG_FUZZ=ON -DTG_WERROR=ON \
    -DTG_BUILD_TESTS=OFF -DTG_BUILD_TOOLS=OFF >build-fuzz.log 2>&1 &&
    cmake --build build-fuzz -j "$jobs" >>build-fuzz.log 2>&1 || {
    cat build-fuzz.log
    echo "tools/fuzz.sh: the fuzz build failed" >&2
    exit 1
}
rm -f build-fuzz.log

if [ $# -eq 0 ]; then
    set --
    for source in tests/fuzz/fuzz_*.c; do
        name=$(basename "$source" .c)
        set -- "$@" "${name#fuzz_}"
    done
fi

# one thread per kernel: inputs are small, and a parallel region costs more
export OMP_NUM_THREADS=1
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

status=0
total=0
for name in "$@"; do
    program=build-fuzz/fuzz/fuzz_$name
    if [ ! -x "$program" ]; then
        echo "tools/fuzz.sh: no fuzz target '$name' (tests/fuzz/fuzz_$name.c)" >&2
        exit 2
    fi
    corpus=build-fuzz/corpus/$name
    crashes=build-fuzz/crashes/$name
    mkdir -p "$corpus" "$crashes"
    dict=""
    [ -f "tests/fuzz/$name.dict" ] && dict="-dict=tests/fuzz/$name.dict"
    log=build-fuzz/fuzz-$name.log
    started=$(date +%s)
    # shellcheck disable=SC2086 # dict is one optional word
    if "$program" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$crashes/" $dict \
        "$corpus" "tests/fuzz/corpus/$name" >"$log" 2>&1; then
        crashed=0
    else
        crashed=1
        status=1
        tail -n 40 "$log"
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    runs=${runs:-0}
    total=$((total + runs))
    echo "fuzz $name: $runs executions in $(($(date +%s) - started)) s, $crashed crashes (log $log)"
done
echo "fuzz: $total executions over $# target(s)"
exit $status
