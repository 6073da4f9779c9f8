#!/usr/bin/env bash
# tests/integration/layering.sh — the library's layering (scripts/check-layering): no file of src/
# or include/airfactory includes a header of a later layer (core < format < schematic < talos <
# verify < registry < oci < bundle < imager < manifest < factory < pull < serve < cli; see
# docs/architecture.md). Then the check is shown to fail: on a copy of the tree with an upward
# include (it must name file:line) and with a folder of src/ that has no place in the order.
source "$(dirname "$0")/../lib.sh"
T=$(scratch)
out=$(bash "$ROOT/scripts/check-layering" "$ROOT" 2>&1); rc=$?
check_eq "the tree has no upward include" "$rc" 0
[ "$rc" -eq 0 ] || echo "$out" | head -20

cp -r "$ROOT/src" "$ROOT/include" "$T/"
line=$(($(grep -n '^#include' "$T/src/core/fs.c" | tail -1 | cut -d: -f1) + 1))
sed -i "${line}i #include \"serve/serve_routes.h\"" "$T/src/core/fs.c"
out=$(bash "$ROOT/scripts/check-layering" "$T" 2>&1); rc=$?
check_eq "an upward include fails the check" "$rc" 1
check_contains "... naming file:line and both modules" "$out" "src/core/fs.c:$line: core includes serve/serve_routes.h of serve, a later layer"
sed -i "${line}d" "$T/src/core/fs.c"
printf '#include "airfactory/manifest.h"\n' >>"$T/include/airfactory/schematic.h"
out=$(bash "$ROOT/scripts/check-layering" "$T" 2>&1); rc=$?
check_eq "an upward include in a public header fails the check" "$rc" 1
check_contains "... naming the header" "$out" "include/airfactory/schematic.h:"
cp "$ROOT/include/airfactory/schematic.h" "$T/include/airfactory/schematic.h"
check "the repaired copy passes" bash "$ROOT/scripts/check-layering" "$T"
mkdir "$T/src/gadgets" && : >"$T/src/gadgets/gadget.c"
out=$(bash "$ROOT/scripts/check-layering" "$T" 2>&1); rc=$?
check_eq "a module with no place in the order fails the check" "$rc" 1
check_contains "... saying where to place it" "$out" "src/gadgets: module not placed in the layering"

# comments cite upstream sources (repository, path) or this repository's docs, never files that
# live outside the repository (issue #13 item 4): the workplace's shared/reference notes, DESIGN.md
outside=$(grep -rnE 'shared/reference|\.\./shared|reference/[a-z-]+\.md|DESIGN\.md' "$ROOT/src" "$ROOT/include" "$ROOT/tools" 2>/dev/null | sed "s|$ROOT/||")
check_eq "no comment in src/, include/, tools/ cites a file outside the repository" "$outside" ""
