#!/bin/sh
# README Quick start, command 1: install missing Debian packages (as root),
# configure a Release build in build/, build it, and run the main job.
set -eu
cd "$(dirname "$0")/.."
. tools/deps.sh

tg_ensure_deps
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(tg_jobs)" --target tg
build/tg demo
