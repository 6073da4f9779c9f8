#!/usr/bin/env bash
# tests/integration/cli.sh — the command line parses one way everywhere (src/cli/airfactory.c
# cli_dispatch + getopt_long): every command and subcommand answers --help and `help NAME` on
# stdout with exit 0, names an unknown option in its error (exit 2), and an unknown command is
# refused with the way to the list. The command lists are read from --help itself, so a command
# added later is covered without editing this file.
source "$(dirname "$0")/../lib.sh"

commands=$("$AIRFACTORY" --help | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1}')
check_contains "--help lists commands" "$commands" "build"

# words: "build", "asset initramfs", ...
words=()
for c in $commands; do
  subs=$("$AIRFACTORY" "$c" --help 2>/dev/null | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1}')
  words+=("$c")
  for s in $subs; do words+=("$c $s"); done
done
check_contains "asset subcommands found" "${words[*]}" "asset initramfs"
check_contains "disk subcommands found" "${words[*]}" "disk meta"

for w in "${words[@]}"; do
  # shellcheck disable=SC2086
  out=$("$AIRFACTORY" $w --help 2>&1); rc=$?
  check_eq "airfactory $w --help exits 0" "$rc" 0
  check_contains "airfactory $w --help prints a usage" "$out" "usage: airfactory $w"
  # shellcheck disable=SC2086
  check_eq "airfactory help $w = airfactory $w --help" "$("$AIRFACTORY" help $w 2>&1)" "$out"
  # shellcheck disable=SC2086
  err=$("$AIRFACTORY" $w --no-such-option 2>&1 >/dev/null); rc=$?
  check_eq "airfactory $w --no-such-option exits 2" "$rc" 2
  check_contains "airfactory $w names the unknown option" "$err" "--no-such-option"
  # shellcheck disable=SC2086
  if [ -z "$("$AIRFACTORY" $w --help | awk '/^commands:/')" ]; then
    check_contains "airfactory $w shows its usage" "$err" "usage: airfactory $w"
  fi
done

err=$("$AIRFACTORY" no-such-command 2>&1); rc=$?
check_eq "unknown command exits 2" "$rc" 2
check_contains "unknown command named, commands listed" "$err" "unknown command 'no-such-command'; expected pull|build|"
check_contains "unknown command: --help pointed at" "$err" "(run 'airfactory --help'"
err=$("$AIRFACTORY" asset no-such 2>&1); rc=$?
check_eq "unknown subcommand exits 2" "$rc" 2
check_contains "unknown subcommand named" "$err" "airfactory asset: unknown command 'no-such'"
"$AIRFACTORY" >/dev/null 2>&1; check_eq "no command: exit 2" "$?" 2
check_contains "no command: the list on stderr" "$("$AIRFACTORY" 2>&1 >/dev/null)" "commands:"

out=$("$AIRFACTORY_SERVE" --help 2>&1); rc=$?
check_eq "airfactory-serve --help exits 0" "$rc" 0
err=$("$AIRFACTORY_SERVE" --no-such-option 2>&1); rc=$?
check_eq "airfactory-serve --no-such-option exits 2" "$rc" 2
check_contains "airfactory-serve names the unknown option" "$err" "--no-such-option"
