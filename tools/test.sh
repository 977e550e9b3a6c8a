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
# With MPI (tapegrad_dist), the data-parallel tests (tests/test_dist_*.c) run
# under `mpirun -n 2` (the Release build also under -n 3), tg train on 2
# ranks is checked against tg train alone, and the install check runs a
# downstream data-parallel program.
# Ends with one line "tests: N passed, M failed" (N cmocka tests over both
# builds) and exits non-zero if anything failed.
set -eu
cd "$(dirname "$0")/.."
source_dir=$(pwd)
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

# Runs a command with a time limit when coreutils' timeout is available:
# with_time_limit SECONDS COMMAND...
with_time_limit() {
    limit=$1
    shift
    if command -v timeout >/dev/null 2>&1; then
        timeout "$limit" "$@"
    else
        "$@"
    fi
}

# MPI programs: as root (CI), Open MPI wants to be told that is intended;
# --oversubscribe: more ranks than cores; no single-copy transfers between
# processes (containers often forbid the ptrace they need); the sanitizers'
# leak check skips Open MPI's own allocations (tools/lsan-mpi.supp).
# A data-parallel test that hangs in a collective is stopped after 300 s.
with_mpirun() { # RANKS COMMAND...
    ranks=$1
    shift
    if [ "$(id -u)" = 0 ]; then
        export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    fi
    OMPI_MCA_btl_vader_single_copy_mechanism=none \
        ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0" \
        LSAN_OPTIONS="suppressions=$source_dir/tools/lsan-mpi.supp:print_suppressions=0" \
        with_time_limit 300 mpirun -n "$ranks" --oversubscribe "$@"
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
        case $name in
        test_dist_*) # data parallel: under mpirun, Release also on 3 ranks
            rank_counts=2
            [ "$label" = release ] && rank_counts="2 3"
            ;;
        *) rank_counts=1 ;;
        esac
        for ranks in $rank_counts; do
            run_program "$dir" "$label" "$name" "$ranks"
        done
    done
    if [ "$programs" -eq 0 ]; then
        failed=$((failed + 1))
        note_failure "$label: no test programs in $dir/tests"
    fi
}

# Runs one test program (RANKS > 1: under mpirun) and adds cmocka's counts:
# run_program DIR LABEL NAME RANKS
run_program() {
    dir=$1
    label=$2
    name=$3
    ranks=$4
    programs=$((programs + 1))
    log="$work/$label-$name-$ranks.log"
    if [ "$ranks" -gt 1 ]; then
        section "$label: $name ($ranks ranks)"
        name_ranks="$name ($ranks ranks)"
        if (cd "$dir/tests" && with_mpirun "$ranks" "./$name") >"$log" 2>&1; then
            status=0
        else
            status=$?
        fi
    else
        section "$label: $name"
        name_ranks=$name
        if (cd "$dir/tests" && with_time_limit 600 "./$name") >"$log" 2>&1; then
            status=0
        else
            status=$?
        fi
    fi
    cat "$log"
    # cmocka's group summaries: "[  PASSED  ] N test(s)." and
    # "[  FAILED  ] M test(s), listed below:" (summed over groups; a
    # data-parallel test prints them from rank 0 only)
    counts=$(awk '/^\[  PASSED  \] [0-9]+ test/ { p += $4 }
                  /^\[  FAILED  \] [0-9]+ test\(s\), listed below/ { f += $4 }
                  END { print p + 0, f + 0 }' "$log")
    group_passed=${counts% *}
    group_failed=${counts#* }
    passed=$((passed + group_passed))
    failed=$((failed + group_failed))
    if [ "$group_failed" -gt 0 ]; then
        note_failure "$label: $name_ranks: $group_failed test(s) failed"
    elif [ "$status" -ne 0 ]; then
        # a crash, a sanitizer report or a leak after the summary, a failure
        # on another rank, or a data-parallel test stopped by the time limit
        failed=$((failed + 1))
        note_failure "$label: $name_ranks: exited with status $status (see its output above)"
    elif [ "$group_passed" -eq 0 ]; then
        failed=$((failed + 1))
        note_failure "$label: $name_ranks: ran no tests"
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

    # data parallel (built with MPI): the same two ways, run on 2 ranks; MPI
    # is a public dependency (a user's program includes mpi.h), so its .pc
    # file may be seen
    [ -f "$(dirname "$pc")/tapegrad-dist.pc" ] || return 0
    echo "-- downstream data-parallel program (find_package, then pkg-config tapegrad-dist), 2 ranks"
    [ -x "$work/downstream/downstream_dist" ] || {
        echo "tapegrad-dist.pc is installed but find_package(tapegrad) gave no tapegrad::tapegrad_dist"
        return 1
    }
    with_mpirun 2 "$work/downstream/downstream_dist" || return 1
    flags=$(PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config --cflags --libs tapegrad-dist) || return 1
    echo "cc downstream_dist.c $flags"
    # shellcheck disable=SC2086 # flags are meant to split into words
    cc -std=c11 -Wall -Wextra tools/cmake/downstream/downstream_dist.c $flags -o "$work/downstream-dist-pc" ||
        return 1
    (
        unset LD_LIBRARY_PATH
        with_mpirun 2 "$work/downstream-dist-pc"
    ) || return 1
}

# tg train ARGS alone and on 2 ranks write the same log (its first 8 columns)
same_log_alone_and_on_2_ranks() { # NAME ARGS...
    name=$1
    shift
    build/tg train "$@" --log "$work/$name-alone.csv" >/dev/null || return 1
    with_mpirun 2 build/tg train "$@" --log "$work/$name-ranks.csv" || return 1
    cut -d, -f1-8 "$work/$name-alone.csv" >"$work/$name-alone.cut"
    cut -d, -f1-8 "$work/$name-ranks.csv" >"$work/$name-ranks.cut"
    diff "$work/$name-alone.cut" "$work/$name-ranks.cut"
}

# `mpirun -n 2 build/tg train` and `build/tg train` (f64, a built-in set, two
# epochs) log the same losses and accuracies (to the 9 digits of the log), the
# MLP and the cnn; a rank whose setup fails stops both ranks with its message.
tg_train_data_parallel_check() {
    section "data parallel: mpirun -n 2 build/tg train = build/tg train"
    same_log_alone_and_on_2_ranks mlp --data spiral --samples 1000 --epochs 2 --hidden 32,32 --dtype f64 \
        --batch 100 --quiet || return 1
    echo "-- the cnn (synchronised batchnorm over images; no dropout, whose masks differ by rank)"
    same_log_alone_and_on_2_ranks cnn --model cnn --data bars --samples 600 --epochs 2 --channels 4,4 --hidden 16 \
        --dtype f64 --batch 60 --dropout 0 --quiet || return 1

    echo "-- rank 1 cannot load its data: both ranks stop (no wait in a collective), rank 0 names rank 1"
    # shellcheck disable=SC2016 # expanded by each rank's shell
    if with_mpirun 2 sh -c 'data=spiral; [ "$OMPI_COMM_WORLD_RANK" = 1 ] && data=/nonexistent
        exec build/tg train --data "$data" --samples 300 --epochs 1 --quiet' >"$work/failing.log" 2>&1; then
        cat "$work/failing.log"
        echo "tg train succeeded although rank 1 had no data"
        return 1
    fi
    grep -q 'rank 1 of 2' "$work/failing.log" || {
        cat "$work/failing.log"
        echo "the failure was not reported as rank 1's"
        return 1
    }
}

# ---- 1. normal build ----
if build_tree build release -DCMAKE_BUILD_TYPE=Release -DTG_WERROR=ON -DTG_BUILD_TESTS=ON; then
    run_tests build release

    # ---- 2. sanitizers ----
    if build_tree build-asan asan -DCMAKE_BUILD_TYPE=Debug -DTG_SANITIZE=ON -DTG_WERROR=ON \
        -DTG_BUILD_TESTS=ON -DTG_BUILD_TOOLS=ON; then
        run_tests build-asan asan
    fi

    # ---- data parallel: tg train on 2 ranks follows tg train alone ----
    if [ -f build/libtapegrad_dist.a ]; then
        if tg_train_data_parallel_check; then
            echo "tg train on 2 ranks matches tg train alone"
        else
            failed=$((failed + 1))
            note_failure "tg train under mpirun differs from tg train alone (see above)"
        fi
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
