#!/usr/bin/env bash
# ipxe — network boot through airfactory-serve in QEMU: QEMU's iPXE NIC ROM (ipxe-qemu) gets
# DHCP bootfile=http://10.0.2.2:PORT/pxe/<schematic>/v1.11.3/metal-${buildarch} from slirp, runs
# the script the server renders, fetches kernel and initramfs from /image/ (slirp maps the guest's
# 10.0.2.2 to the host's 127.0.0.1), and boots. The fixture kernel+initramfs (scripts/make-fixtures)
# print AIRFACTORY-FIXTURE-BOOT and their command line, which must be the bundle's cmdline asset.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../integration/serve-lib.bash"

FIX=$FIXTURES/rootfs/imager-v1.11.3-amd64/usr/install/amd64
if [ ! -f "$FIX/vmlinuz" ] || [ ! -f "$FIX/initramfs.xz" ]; then
  skip "ipxe boot" "fixture kernel/initramfs missing ($FIX); run scripts/make-fixtures"
  exit 0
fi
if ! command -v qemu-system-x86_64 >/dev/null || [ ! -f /usr/lib/ipxe/qemu/pxe-e1000.rom ]; then
  skip "ipxe boot" "qemu-system-x86 or ipxe-qemu not installed (scripts/install-deps.sh)"
  exit 0
fi

MARK=airfactory.pxe.test=$$
serve_setup --kernel "$FIX/vmlinuz" --initramfs "$FIX/initramfs.xz" \
  --cmdline "talos.platform=metal console=ttyS0 panic=-1 $MARK"
cd "$SCR" || exit 1
start_serve ipxe "$BUNDLE" --key "$PUB" || { fail "server starts"; exit 1; }

# ${buildarch} is i386 under BIOS iPXE: the alias must resolve to the amd64 assets.
BOOTFILE="http://10.0.2.2:$PORT/pxe/$SCHEMATIC/$VERSION/metal-\${buildarch}"
LOG=$SCR/qemu.log
qemu-system-x86_64 -accel tcg -m 1024 -smp 1 -nographic -no-reboot \
  -netdev "user,id=n0,bootfile=$BOOTFILE" -device e1000,netdev=n0 -boot n </dev/null >"$LOG" 2>&1 &
QEMU_PID=$!
SERVE_EXTRA_PIDS+=("$QEMU_PID")
why=timeout
for _ in $(seq 1 960); do   # at most 240 s (TCG, no KVM)
  sleep 0.25
  if ! kill -0 "$QEMU_PID" 2>/dev/null; then why=exited; break; fi
  if grep -aq 'CMDLINE:' "$LOG" && grep -aq 'AIRFACTORY-FIXTURE-BOOT' "$LOG"; then why=booted; sleep 1; break; fi
  if grep -aqE 'Kernel panic|No bootable device|No more network devices|Boot failed|Connection refused' "$LOG"; then
    why=deadend; break
  fi
done
kill "$QEMU_PID" 2>/dev/null
wait "$QEMU_PID" 2>/dev/null
# the fixture powers off right after printing: judge by the log, not by who stopped first
if grep -aq 'CMDLINE:' "$LOG" && grep -aq 'AIRFACTORY-FIXTURE-BOOT' "$LOG"; then why=booted; fi
check_eq "guest booted over iPXE ($why)" "$why" "booted"
check_contains "fixture init ran" "$(cat "$LOG")" "AIRFACTORY-FIXTURE-BOOT"
check_contains "kernel got the bundle's cmdline" "$(grep -a 'CMDLINE:' "$LOG" | head -1)" "$MARK"
log=$(cat "$SERVE_LOG")
check_contains "iPXE fetched the script (\${buildarch}=i386 under BIOS iPXE)" "$log" "\"GET /pxe/$SCHEMATIC/$VERSION/metal-i386 HTTP/1.1\" 200"
check_contains "iPXE fetched the kernel" "$log" "\"GET /image/$SCHEMATIC/$VERSION/kernel-amd64 HTTP/1.1\" 200"
check_contains "iPXE fetched the initramfs" "$log" "\"GET /image/$SCHEMATIC/$VERSION/initramfs-amd64.xz HTTP/1.1\" 200"
if [ "$why" != booted ]; then
  echo "--- qemu log (tail) ---"; tail -c 3000 "$LOG" | tr -d '\033'
fi
stop_serve
