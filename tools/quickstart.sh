#!/bin/sh
# README Quick start, command 1: install missing Debian packages (as root),
# configure a Release build in build/, build it, and run the main job: train
# an MLP on Fashion-MNIST for a few epochs (a built-in data set when
# Fashion-MNIST is not installed), writing the curves, the log, the graph
# and the run checkpoint into out/.
set -eu
cd "$(dirname "$0")/.."
. tools/deps.sh

tg_ensure_deps
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(tg_jobs)" --target tg
mkdir -p out
build/tg train --plot out/curves.svg --log out/train.csv --export-dot out/model.svg --save out/run.tg "$@"
