#!/usr/bin/env bash
# tests/integration/format.sh — the C sources are as `make format` (clang-format with .clang-format)
# leaves them (scripts/check-format), and the check fails, naming the file, on a misformatted copy.
source "$(dirname "$0")/../lib.sh"
out=$(bash "$ROOT/scripts/check-format" 2>&1); rc=$?
if [ "$rc" = 77 ]; then skip "sources formatted" "$out"; exit 0; fi
check_eq "sources formatted as .clang-format says (make format)" "$rc" 0
[ "$rc" = 0 ] || echo "$out" | head -20

T=$(scratch)
mkdir -p "$T/src/core" "$T/include" "$T/tools" "$T/tests/unit" "$T/tests/fuzz"
cp "$ROOT/.clang-format" "$T/"
cp "$ROOT/src/core/byte_size.c" "$T/src/core/"
check "a formatted file passes" bash "$ROOT/scripts/check-format" "$T"
sed -i 's/^{$/{  /; 0,/    return/s/    return/  return/' "$T/src/core/byte_size.c"
out=$(bash "$ROOT/scripts/check-format" "$T" 2>&1); rc=$?
check_eq "a misformatted file fails the check" "$rc" 1
check_contains "... naming it" "$out" "src/core/byte_size.c: not formatted (make format)"
