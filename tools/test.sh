#!/bin/sh
# README Quick start, command 2: the whole test suite.
#   1. install missing Debian packages (as root), build in build/ (Release,
#      warnings as errors) and run every cmocka program in build/tests/;
#   2. build the tests (and tg, which some tests run) again under
#      AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/ (Debug) and
#      run them all again;
#   3. install into a temporary prefix, run the installed tg, and build a
#      downstream project with find_package(tapegrad) and with pkg-config
#      (seeing no other .pc file), which checks a gradient without
#      LD_LIBRARY_PATH;
#   4. when clang can build libFuzzer programs, run every fuzz target a few
#      seconds (tools/fuzz.sh; each passing target counts as one test).
# Ends with one line "tests: N passed, M failed" (N cmocka tests over both
# builds) and exits non-zero if anything failed.
set -eu
cd "$(dirname "$0")/.."
. tools/deps.sh

tg_ensure_deps

started=$(date +%s)
jobs=$(tg_jobs)
work=$(mktemp -d "${TMPDIR:-/tmp}/tapegrad-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# cmocka prints to stdout; the sanitizers stop at the first report (only
# the sanitized programs read their variables)
export CMOCKA_MESSAGE_OUTPUT=STDOUT
export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

passed=0
failed=0
failures=""

note_failure() { # reason
    failures="$failures
  $1"
}

section() {
    printf '\n======== %s ========\n' "$1"
}

# Runs a command with a time limit when coreutils' timeout is available.
with_time_limit() {
    if command -v timeout >/dev/null 2>&1; then
        timeout 600 "$@"
    else
        "$@"
    fi
}

# Configures and builds one tree: build_tree DIR LABEL CMAKE-ARGS...
build_tree() {
    dir=$1
    label=$2
    shift 2
    section "build: $label ($dir)"
    if cmake -S . -B "$dir" "$@" && cmake --build "$dir" -j "$jobs"; then
        return 0
    fi
    failed=$((failed + 1))
    note_failure "$label: the build in $dir failed"
    return 1
}

# Runs every test program of a tree and adds cmocka's counts: run_tests DIR LABEL
run_tests() {
    dir=$1
    label=$2
    programs=0
    for program in "$dir"/tests/test_*; do
        name=$(basename "$program")
        # programs only (tests may leave files here), and only those whose
        # source still exists (a renamed test leaves its old program behind)
        if [ ! -f "$program" ] || [ ! -x "$program" ] || [ ! -f "tests/$name.c" ]; then
            continue
        fi
        programs=$((programs + 1))
        log="$work/$label-$name.log"
        section "$label: $name"
        if (cd "$dir/tests" && with_time_limit "./$name") >"$log" 2>&1; then
            status=0
        else
            status=$?
        fi
        cat "$log"
        # cmocka's group summaries: "[  PASSED  ] N test(s)." and
        # "[  FAILED  ] M test(s), listed below:" (summed over groups)
        counts=$(awk '/^\[  PASSED  \] [0-9]+ test/ { p += $4 }
                      /^\[  FAILED  \] [0-9]+ test\(s\), listed below/ { f += $4 }
                      END { print p + 0, f + 0 }' "$log")
        group_passed=${counts% *}
        group_failed=${counts#* }
        passed=$((passed + group_passed))
        failed=$((failed + group_failed))
        if [ "$group_failed" -gt 0 ]; then
            note_failure "$label: $name: $group_failed test(s) failed"
        elif [ "$status" -ne 0 ]; then
            # a crash, a sanitizer report or a leak after the summary
            failed=$((failed + 1))
            note_failure "$label: $name: exited with status $status (see its output above)"
        elif [ "$group_passed" -eq 0 ]; then
            failed=$((failed + 1))
            note_failure "$label: $name: ran no tests"
        fi
    done
    if [ "$programs" -eq 0 ]; then
        failed=$((failed + 1))
        note_failure "$label: no test programs in $dir/tests"
    fi
}

# Installs build/ into a temporary prefix and builds tools/cmake/downstream
# against it, with CMake and with pkg-config.
install_check() {
    prefix="$work/prefix"
    section "install check: cmake --install build --prefix $prefix"
    cmake --install build --prefix "$prefix" >"$work/install.log" 2>&1 || {
        cat "$work/install.log"
        echo "cmake --install failed"
        return 1
    }
    echo "installed $(find "$prefix" -type f | wc -l) files"

    echo "-- downstream project with find_package(tapegrad)"
    if ! cmake -S tools/cmake/downstream -B "$work/downstream" -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_BUILD_TYPE=Release >"$work/downstream.log" 2>&1 ||
        ! cmake --build "$work/downstream" >>"$work/downstream.log" 2>&1; then
        cat "$work/downstream.log"
        echo "the downstream CMake project did not build"
        return 1
    fi
    "$work/downstream/downstream" || return 1

    echo "-- the installed tg program runs"
    "$prefix/bin/tg" --version || return 1

    # PKG_CONFIG_LIBDIR holds only tapegrad.pc: as on a machine without the
    # optional dev packages' .pc files (xxHash, Graphviz), which a user's
    # compile must not need; the program then runs without LD_LIBRARY_PATH
    echo "-- downstream program with pkg-config --cflags --libs tapegrad (no other .pc file visible)"
    pc=$(find "$prefix" -name tapegrad.pc | head -n 1)
    [ -n "$pc" ] || {
        echo "tapegrad.pc was not installed"
        return 1
    }
    flags=$(PKG_CONFIG_LIBDIR="$(dirname "$pc")" PKG_CONFIG_PATH="" pkg-config --cflags --libs tapegrad) || return 1
    echo "cc downstream.c $flags"
    # shellcheck disable=SC2086 # flags are meant to split into words
    cc -std=c11 -Wall -Wextra tools/cmake/downstream/downstream.c $flags -o "$work/downstream-pc" || return 1
    env -u LD_LIBRARY_PATH "$work/downstream-pc" || return 1
}

# ---- 1. normal build ----
if build_tree build release -DCMAKE_BUILD_TYPE=Release -DTG_WERROR=ON -DTG_BUILD_TESTS=ON; then
    run_tests build release

    # ---- 2. sanitizers ----
    if build_tree build-asan asan -DCMAKE_BUILD_TYPE=Debug -DTG_SANITIZE=ON -DTG_WERROR=ON \
        -DTG_BUILD_TESTS=ON -DTG_BUILD_TOOLS=ON; then
        run_tests build-asan asan
    fi

    # ---- 3. install ----
    if install_check; then
        echo "install check passed"
    else
        failed=$((failed + 1))
        note_failure "install check failed (see above)"
    fi

    # ---- 4. fuzzing, when clang can build libFuzzer programs ----
    # about 24 s over every target (at least 5 s each); tools/fuzz.sh runs them for hours
    targets=$(ls tests/fuzz/fuzz_*.c | wc -l)
    per_target=$((24 / targets))
    [ "$per_target" -ge 5 ] || per_target=5
    section "fuzz: every target for $per_target s (tools/fuzz.sh)"
    if sh tools/fuzz.sh "$per_target"; then
        passed=$((passed + targets))
    else
        fuzz_status=$?
        if [ "$fuzz_status" -eq 3 ]; then
            echo "fuzzing skipped: clang with libFuzzer is not installed"
        else
            failed=$((failed + 1))
            note_failure "fuzz: a target failed (see above; the input is in build-fuzz/crashes/)"
        fi
    fi
fi

section "summary"
echo "finished in $(($(date +%s) - started)) s"
if [ -n "$failures" ]; then
    echo "failures:$failures"
fi
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
