# The Debian packages tapegrad needs to build, test and render graphs, in one
# place. Sourced (POSIX sh) by tools/quickstart.sh and tools/test.sh:
#   . tools/deps.sh && tg_ensure_deps
# Installs what is missing when run as root; otherwise names the missing
# packages, prints the apt-get line to run, and fails.

# clang, its libFuzzer runtime and libomp: the fuzz targets (tools/fuzz.sh)
TG_DEBIAN_PACKAGES="build-essential cmake pkg-config libxxhash-dev libcmocka-dev libgraphviz-dev graphviz
  clang libclang-rt-dev libomp-dev"

# Prints the packages of TG_DEBIAN_PACKAGES that are not installed.
tg_missing_packages() {
    for package in $TG_DEBIAN_PACKAGES; do
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
                echo "tapegrad: '$tool' not found; install a C compiler, cmake, pkg-config, xxHash, cmocka (and optionally Graphviz)" >&2
                return 1
            fi
        done
        for module in libxxhash cmocka; do
            if ! pkg-config --exists "$module"; then
                echo "tapegrad: pkg-config module '$module' not found; install its development package" >&2
                return 1
            fi
        done
        return 0
    fi
    missing=$(tg_missing_packages)
    [ -z "$missing" ] && return 0
    install_line="apt-get update && apt-get install -y --no-install-recommends $TG_DEBIAN_PACKAGES"
    if [ "$(id -u)" != 0 ]; then
        echo "tapegrad: missing Debian packages: ${missing% }" >&2
        echo "run as root (or with sudo):" >&2
        echo "  $install_line" >&2
        return 1
    fi
    echo "tapegrad: installing missing Debian packages: ${missing% }"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # shellcheck disable=SC2086 # the list is meant to split into words
    apt-get install -y --no-install-recommends $TG_DEBIAN_PACKAGES
}

# Parallel build jobs: the number of online CPUs.
tg_jobs() {
    nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2
}
