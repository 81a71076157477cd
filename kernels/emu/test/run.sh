#!/bin/sh
# Builds the PTX and the emulator, then the emulator's test, and runs it.
# From the repository root:  kernels/emu/test/run.sh [valgrind]
#   valgrind: also run a short pass (EMU_TEST_QUICK=1) under memcheck.
set -e
make emulator
${CXX:-g++} -std=c++17 -O2 -Wall -Wextra -o bin/emu-test kernels/emu/test/emu_test.cpp -ldl -pthread
bin/emu-test
JKONET_EMU_THREADS=1 bin/emu-test
if [ "$1" = valgrind ]; then
  EMU_TEST_QUICK=1 valgrind --error-exitcode=9 --quiet bin/emu-test
fi
