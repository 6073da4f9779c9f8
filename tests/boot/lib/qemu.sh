# tests/boot/lib/qemu.sh — run QEMU (TCG) against a built asset and check what the guest printed
# (sourced by tests/boot/*.sh after tests/lib.sh).
#
# qemu_boot LOG TIMEOUT QEMU-ARGS...   amd64 guest (qemu-system-x86_64, $QEMU_AMD64_MEM MiB, default
#     1024), see qemu_boot_arch.
# qemu_boot_bg LOG TIMEOUT QEMU-ARGS...   qemu_boot in the background, at most $BOOT_JOBS guests at once
#     (default 2: CI has two cores and a TCG guest keeps one busy); it first waits for a running one
#     to end. qemu_wait_guests waits for them (every background job of the suite); check their logs
#     after it.
# qemu_boot_arch ARCH LOG TIMEOUT QEMU-ARGS...   boots an ARCH guest (amd64 | arm64) in the
#     background and returns when the guest's /init says it is done, a dead end shows up (EFI
#     shell, no bootable device, GRUB rescue, kernel panic), QEMU exits, or TIMEOUT seconds pass.
#     It presses Enter once when systemd-boot shows its menu ("Boot in 10 s") so loader.conf's
#     timeout does not cost ten seconds of a test run; with QEMU_GRUB_ENTER=1 also when GRUB counts
#     down ("executed automatically in 3s"; GRUB then boots the default entry without printing
#     "Booting `ENTRY'", which suites asserting that line need). It prints the guest's wall time as
#     "TIME <LOG's name without .log> Ns" (docs/testing.md boot matrix) and writes it to LOG.time.
#     arm64 is `qemu-system-aarch64 -M virt -cpu max,pauth-impdef=on -m 512`:
#     `-cpu max` with the architected (QARMA) pointer-authentication algorithm costs about 3x the
#     boot time under TCG, pauth-impdef=on keeps pointer authentication with QEMU's cheap hash.
#     Firmware is the caller's: $(aavmf_args) for AAVMF, nothing for a direct kernel boot.
# aavmf_args [VARS [rw]]   the pflash pair for AAVMF (arm64 UEFI, package qemu-efi-aarch64): its
#     code read-only and VARS (default: Debian's empty variable store) as the variable store, a
#     snapshot unless "rw" is given (the guest then writes VARS). Words for an unquoted $(...).
# check_boot NAME LOG INITRAMFS CMDLINE [ALT-CMDLINE]   PASS/FAIL lines:
#     NAME/marker           the fixture /init ran
#     NAME/cmdline          its "CMDLINE:" line is CMDLINE (GRUB's "BOOT_IMAGE=/boot/vmlinuz "
#                           prefix allowed), or ALT-CMDLINE when given; CMDLINE "contains:W1 W2 ..."
#                           asks for each word W instead of the whole line
#     NAME/extension-files  its "EXT-FILE:" lines are exactly the regular files the prepended and
#                           appended archives of INITRAMFS hold (read with `airfactory asset
#                           segments`): the kernel keeps booting after an unpack error, so only
#                           this proves the appended archive arrived
#     A guest that did not reach its marker gets the last 40 lines of its serial console printed
#     after the FAIL line (indented "  | ").
# check_menu NAME LOG ENTRY...   PASS when each ENTRY is a whole line of the boot menu the guest
#     drew on its serial console (systemd-boot's or GRUB's: cursor escapes and runs of three or
#     more spaces read as line breaks, spaces around a line and GRUB's "*" of the highlighted
#     entry dropped; SeaBIOS' copy of the VGA text puts a whole menu row on one line)

OVMF_FD=${OVMF_FD:-/usr/share/ovmf/OVMF.fd}
AAVMF_CODE=${AAVMF_CODE:-/usr/share/AAVMF/AAVMF_CODE.fd}
AAVMF_VARS=${AAVMF_VARS:-/usr/share/AAVMF/AAVMF_VARS.fd}

qemu_boot() { qemu_boot_arch amd64 "$@"; }

qemu_boot_arch() {
  local arch=$1 log=$2 tmo=$3; shift 3
  local base
  case $arch in
    amd64) base=(qemu-system-x86_64 -accel tcg -m "${QEMU_AMD64_MEM:-1024}") ;;
    arm64) base=(qemu-system-aarch64 -M virt -accel tcg -cpu max,pauth-impdef=on -m "${QEMU_ARM64_MEM:-512}") ;;
    *) echo "qemu_boot_arch: unknown arch $arch" >&2; return 1 ;;
  esac
  local fifo start=$SECONDS
  fifo=$(mktemp -u "${TMPDIR:-/tmp}/airfactory-qemu-in.XXXXXX")
  mkfifo "$fifo"
  "${base[@]}" -smp 1 -nographic -no-reboot -nic none "$@" <"$fifo" >"$log" 2>&1 &
  local pid=$!
  exec 7>"$fifo"
  rm -f "$fifo"
  local sent=0 i menu='Boot in '
  [ "${QEMU_GRUB_ENTER:-0}" = 1 ] && menu='Boot in |executed automatically in'
  for ((i = 0; i < tmo * 4; i++)); do
    sleep 0.25
    kill -0 "$pid" 2>/dev/null || break
    if [ $sent = 0 ] && grep -aqE "$menu" "$log"; then printf '\r' >&7; sent=1; fi
    grep -aqE 'AIRFACTORY-FIXTURE-DONE|Shell> |No bootable option|No bootable device|grub rescue>|Kernel panic' "$log" && break
  done
  sleep 0.5
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  exec 7>&-
  echo $((SECONDS - start)) >"$log.time"
  local n=${log##*/}
  echo "TIME ${n%.log} $((SECONDS - start))s"
  return 0
}

qemu_boot_bg() {
  while [ "$(jobs -rp | wc -l)" -ge "${BOOT_JOBS:-2}" ]; do wait -n; done
  qemu_boot "$@" &
}
qemu_wait_guests() {
  local p
  for p in $(jobs -rp); do wait "$p"; done
}

aavmf_args() {
  local vars=${1:-$AAVMF_VARS} snap=on
  [ "${2:-}" = rw ] && snap=off
  echo "-drive if=pflash,format=raw,unit=0,file=$AAVMF_CODE,readonly=on"
  echo "-drive if=pflash,format=raw,unit=1,file=$vars,snapshot=$snap"
}

# serial_tail LOG: the last 40 lines of a guest's serial console, escapes removed, indented
serial_tail() {
  tr -d '\r' <"$1" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1b[()][A-Z0-9]//g' | tail -40 | sed 's/^/  | /'
}

# Regular files of every segment except the base one (the segment holding /init).
appended_files() {
  "$AIRFACTORY" asset segments "$1" | awk '
    $1 == "entry" { seg[$2] = seg[$2] " " $8; if ($8 == "init") base[$2] = 1; if ($3 ~ /^100/) files[$2] = files[$2] " " $8 }
    END { for (s in files) if (!(s in base)) { n = split(files[s], f, " "); for (i = 1; i <= n; i++) print "/" f[i] } }' |
    LC_ALL=C sort
}

check_boot() {
  local name=$1 log=$2 initrd=$3 want=$4 alt=${5:-}
  local clean
  clean=$(tr -d '\r' <"$log" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g')
  if ! grep -aq 'AIRFACTORY-FIXTURE-BOOT' <<<"$clean"; then
    fail "$name/marker" "no AIRFACTORY-FIXTURE-BOOT after $(cat "$log.time" 2>/dev/null || echo ?) s; the serial console's last 40 lines:"
    serial_tail "$log"
    fail "$name/cmdline" "guest did not boot"
    fail "$name/extension-files" "guest did not boot"
    return
  fi
  pass "$name/marker"
  local got
  got=$(grep -a '^CMDLINE: ' <<<"$clean" | head -1 | sed 's/^CMDLINE: //; s/^BOOT_IMAGE=[^ ]* //')
  if [ "${want#contains:}" != "$want" ]; then
    local w missing=""
    for w in ${want#contains:}; do
      case " $got " in *" $w "*) ;; *) missing="$missing $w" ;; esac
    done
    if [ -z "$missing" ]; then pass "$name/cmdline"; else fail "$name/cmdline" "got '$got', missing:$missing"; fi
  elif [ "$got" == "$want" ] || { [ -n "$alt" ] && [ "$got" == "$alt" ]; }; then
    pass "$name/cmdline"
  else
    fail "$name/cmdline" "got '$got', expected '$want'${alt:+ or '$alt'}"
  fi
  local expect seen
  expect=$(appended_files "$initrd")
  seen=$(grep -a '^EXT-FILE: ' <<<"$clean" | sed 's/^EXT-FILE: //' | LC_ALL=C sort)
  if [ -n "$expect" ] && [ "$seen" == "$expect" ]; then
    pass "$name/extension-files"
  else
    fail "$name/extension-files" "guest saw [$(echo $seen)], archives hold [$(echo $expect)]"
  fi
}

# console_lines LOG: the serial console as lines, every escape sequence a line break, trimmed
console_lines() {
  tr -d '\r' <"$1" | sed 's/\x1b\[[0-9;:?]*[A-Za-z]/\n/g; s/\x1b[()][A-Z0-9]/\n/g' |
    sed 's/^[[:space:]]*//; s/[[:space:]]*$//' | grep -av '^$'
}

check_menu() {
  local name=$1 log=$2 lines e missing=""
  shift 2
  lines=$(console_lines "$log" | sed 's/   \+/\n/g' | sed 's/^[[:space:]*]*//')
  for e in "$@"; do grep -aqxF -- "$e" <<<"$lines" || missing="$missing '$e'"; done
  if [ -z "$missing" ]; then
    pass "$name"
  else
    fail "$name" "menu entries missing:$missing; the console's menu-like lines: $(grep -aE 'Talos|Reset|Boot' <<<"$lines" | head -8 | tr '\n' '|')"
  fi
}

need_qemu() {
  command -v qemu-system-x86_64 >/dev/null || { skip "$1" "qemu-system-x86_64 not installed"; return 1; }
  [ -z "${2:-}" ] || [ -f "$OVMF_FD" ] || { skip "$1" "$OVMF_FD not installed"; return 1; }
}

# need_qemu_arm64 NAME: qemu-system-aarch64 and AAVMF are there, else a FAIL line naming the fix
need_qemu_arm64() {
  command -v qemu-system-aarch64 >/dev/null ||
    { fail "$1" "qemu-system-aarch64 missing; run scripts/install-deps.sh (qemu-system-arm)"; return 1; }
  [ -f "$AAVMF_CODE" ] && [ -f "$AAVMF_VARS" ] ||
    { fail "$1" "$AAVMF_CODE missing; run scripts/install-deps.sh (qemu-efi-aarch64)"; return 1; }
}
