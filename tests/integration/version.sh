#!/usr/bin/env bash
# tests/integration/version.sh — `--version` of both programs: VERSION, the commit (git describe,
# -dirty for a changed tree) and the build date (SOURCE_DATE_EPOCH, else the commit's date), from
# scripts/version-header, which must be deterministic.
source "$(dirname "$0")/../lib.sh"
T=$(scratch)
VERSION=$(cat "$ROOT/VERSION")
DATE_RE='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'

for prog in "$AIRFACTORY" "$AIRFACTORY_SERVE"; do
  name=$(basename "$prog")
  out=$("$prog" --version); rc=$?
  check_eq "$name --version exits 0" "$rc" 0
  if [[ $out =~ ^$name\ $VERSION\ \(commit\ ([^,]+),\ built\ ($DATE_RE)\)$ ]]; then
    pass "$name --version names version, commit and date"
    # the binaries under test were built from this tree just now
    if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
      check_eq "$name commit is git describe" "${BASH_REMATCH[1]}" \
        "$(git -C "$ROOT" describe --always --dirty --tags --abbrev=12)"
    fi
  else
    fail "$name --version names version, commit and date" "got '$out'"
  fi
done
check_eq "airfactory version (word) as --version" "$("$AIRFACTORY" version)" "$("$AIRFACTORY" --version)"

# the generator: SOURCE_DATE_EPOCH wins, output is stable, bad input is refused
h1=$(SOURCE_DATE_EPOCH=86400 AIRFACTORY_COMMIT=v1.2.3-4-gabc bash "$ROOT/scripts/version-header")
h2=$(SOURCE_DATE_EPOCH=86400 AIRFACTORY_COMMIT=v1.2.3-4-gabc bash "$ROOT/scripts/version-header")
check_eq "header is deterministic" "$h1" "$h2"
check_contains "SOURCE_DATE_EPOCH is the build date" "$h1" '#define AIRFACTORY_BUILD_DATE "1970-01-02T00:00:00Z"'
check_contains "AIRFACTORY_COMMIT overrides git" "$h1" '#define AIRFACTORY_COMMIT "v1.2.3-4-gabc"'
check_fails "a SOURCE_DATE_EPOCH that is no number is refused" \
  env SOURCE_DATE_EPOCH=yesterday bash "$ROOT/scripts/version-header"
check_fails "a commit with a quote is refused" env 'AIRFACTORY_COMMIT=a"b' bash "$ROOT/scripts/version-header"

# -dirty, and the commit's date without SOURCE_DATE_EPOCH, in a throwaway repository holding the script
mkdir -p "$T/repo/scripts"
cp "$ROOT/scripts/version-header" "$T/repo/scripts/"
echo a >"$T/repo/file"
g() { git -C "$T/repo" -c user.name=t -c user.email=t@t -c commit.gpgsign=false "$@" >/dev/null 2>&1; }
g init -q && g add -A && GIT_COMMITTER_DATE='@172800 +0000' g commit -q -m one
head=$(git -C "$T/repo" rev-parse --short=12 HEAD)
clean=$(env -u SOURCE_DATE_EPOCH -u AIRFACTORY_COMMIT bash "$T/repo/scripts/version-header")
check_contains "clean tree: the commit" "$clean" "#define AIRFACTORY_COMMIT \"$head\""
check_contains "no SOURCE_DATE_EPOCH: the commit's date" "$clean" '"1970-01-03T00:00:00Z"'
echo b >"$T/repo/file"
dirty=$(env -u SOURCE_DATE_EPOCH -u AIRFACTORY_COMMIT bash "$T/repo/scripts/version-header")
check_contains "changed tree: -dirty" "$dirty" "#define AIRFACTORY_COMMIT \"$head-dirty\""
g tag v9.9.9
tagged=$(env -u AIRFACTORY_COMMIT bash "$T/repo/scripts/version-header")
check_contains "on a tag: the tag" "$tagged" '#define AIRFACTORY_COMMIT "v9.9.9-dirty"'
