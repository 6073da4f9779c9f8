# tests/boot/lib/qemu.sh — run QEMU (TCG) against a built asset and check what the guest printed
# (sourced by tests/boot/*.sh after tests/lib.sh).
#
# qemu_boot LOG TIMEOUT QEMU-ARGS...   boots in the background and returns when the guest's /init
#     says it is done, a dead end shows up (EFI shell, no bootable device, kernel panic), QEMU
#     exits, or TIMEOUT seconds pass. It presses Enter once when systemd-boot shows its menu
#     ("Boot in 10 s") so loader.conf's timeout does not cost ten seconds of a test run.
# check_boot NAME LOG INITRAMFS CMDLINE [ALT-CMDLINE]   PASS/FAIL lines:
#     NAME/marker           the fixture /init ran
#     NAME/cmdline          its "CMDLINE:" line is CMDLINE (GRUB's "BOOT_IMAGE=/boot/vmlinuz "
#                           prefix allowed), or ALT-CMDLINE when given
#     NAME/extension-files  its "EXT-FILE:" lines are exactly the regular files the prepended and
#                           appended archives of INITRAMFS hold (read with `airfactory asset
#                           segments`): the kernel keeps booting after an unpack error, so only
#                           this proves the appended archive arrived

OVMF_FD=${OVMF_FD:-/usr/share/ovmf/OVMF.fd}

qemu_boot() {
  local log=$1 tmo=$2; shift 2
  local fifo
  fifo=$(mktemp -u "${TMPDIR:-/tmp}/airfactory-qemu-in.XXXXXX")
  mkfifo "$fifo"
  qemu-system-x86_64 -accel tcg -m 1024 -smp 1 -nographic -no-reboot -nic none "$@" <"$fifo" >"$log" 2>&1 &
  local pid=$!
  exec 7>"$fifo"
  rm -f "$fifo"
  local sent=0 i
  for ((i = 0; i < tmo * 4; i++)); do
    sleep 0.25
    kill -0 "$pid" 2>/dev/null || break
    if [ $sent = 0 ] && grep -aq 'Boot in ' "$log"; then printf '\r' >&7; sent=1; fi
    grep -aqE 'AIRFACTORY-FIXTURE-DONE|Shell> |No bootable option|No bootable device|Kernel panic' "$log" && break
  done
  sleep 0.5
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  exec 7>&-
  return 0
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
    fail "$name/marker" "no AIRFACTORY-FIXTURE-BOOT; log tail: $(tail -c 600 <<<"$clean" | tr '\n' ' ')"
    fail "$name/cmdline" "guest did not boot"
    fail "$name/extension-files" "guest did not boot"
    return
  fi
  pass "$name/marker"
  local got
  got=$(grep -a '^CMDLINE: ' <<<"$clean" | head -1 | sed 's/^CMDLINE: //; s/^BOOT_IMAGE=[^ ]* //')
  if [ "$got" == "$want" ] || { [ -n "$alt" ] && [ "$got" == "$alt" ]; }; then
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

need_qemu() {
  command -v qemu-system-x86_64 >/dev/null || { skip "$1" "qemu-system-x86_64 not installed"; return 1; }
  [ -z "${2:-}" ] || [ -f "$OVMF_FD" ] || { skip "$1" "$OVMF_FD not installed"; return 1; }
}
