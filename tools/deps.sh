# The Debian packages tapegrad needs, in one place. Sourced (POSIX sh) by
# tools/quickstart.sh and tools/test.sh:
#   . tools/deps.sh && tg_ensure_deps
# As root, installs what is missing (the build's packages and the data set).
# As a user, names the missing packages and the apt-get line to run; fails
# only when the build's packages are missing (without the data set, `tg
# train` says so and trains on a built-in set).

# to build, test, render graphs (Graphviz), draw curves (PLplot) and train
# data-parallel (Open MPI: tapegrad_dist, mpirun for its tests)
TG_DEBIAN_PACKAGES="build-essential cmake pkg-config libxxhash-dev libcmocka-dev zlib1g-dev libgraphviz-dev graphviz libplplot-dev plplot-driver-cairo libopenmpi-dev openmpi-bin"
# clang, its libFuzzer runtime and libomp: the fuzz targets (tools/fuzz.sh)
TG_DEBIAN_PACKAGES="$TG_DEBIAN_PACKAGES clang libclang-rt-dev libomp-dev"
# the main job's data: Fashion-MNIST as IDX .gz files in /usr/share/datasets/fashion-mnist
TG_DEBIAN_DATA="dataset-fashion-mnist"

# Prints the packages of the given list that are not installed.
tg_missing_packages() {
    for package in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
            printf '%s ' "$package"
        fi
    done
}

tg_ensure_deps() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        # Not Debian: check the tools and libraries directly.
        for tool in cc cmake pkg-config; do
            if ! command -v "$tool" >/dev/null 2>&1; then
                echo "tapegrad: '$tool' not found; install a C compiler, cmake, pkg-config, xxHash, zlib, cmocka (and optionally Graphviz, PLplot and MPI)" >&2
                return 1
            fi
        done
        for module in libxxhash zlib cmocka; do
            if ! pkg-config --exists "$module"; then
                echo "tapegrad: pkg-config module '$module' not found; install its development package" >&2
                return 1
            fi
        done
        return 0
    fi
    # shellcheck disable=SC2086 # the lists are meant to split into words
    missing=$(tg_missing_packages $TG_DEBIAN_PACKAGES)
    # shellcheck disable=SC2086
    missing_data=$(tg_missing_packages $TG_DEBIAN_DATA)
    [ -z "$missing$missing_data" ] && return 0
    install_line="apt-get update && apt-get install -y --no-install-recommends $TG_DEBIAN_PACKAGES $TG_DEBIAN_DATA"
    if [ "$(id -u)" != 0 ]; then
        echo "tapegrad: missing Debian packages: $missing$missing_data" >&2
        echo "run as root (or with sudo):" >&2
        echo "  $install_line" >&2
        [ -z "$missing" ] && return 0 # only the data set: tg train falls back to a built-in one
        return 1
    fi
    echo "tapegrad: installing missing Debian packages: $missing$missing_data"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # shellcheck disable=SC2086 # the lists are meant to split into words
    apt-get install -y --no-install-recommends $TG_DEBIAN_PACKAGES $TG_DEBIAN_DATA
}

# Parallel build jobs: the number of online CPUs.
tg_jobs() {
    nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2
}
