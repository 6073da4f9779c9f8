#!/usr/bin/python3
"""asset_scan.py — look for the bytes of given files inside built assets, all the way down.

  asset_scan.py --needle NAME=FILE [--needle ...] PATH...

Every PATH (a file, or a directory walked without following links) is unpacked recursively with
outside tools and the standard library, and every object met on the way is searched for each
needle (the whole file, and a 48-byte slice from its middle, so a partial copy is found too):
  gzip, xz, zstd streams (also concatenated, also found by carving inside other files); newc cpio
  (every member; what follows the trailer); tar (installer layers, docker archives); squashfs
  (unsquashfs); ISO 9660 (xorriso -osirrox); FAT (mtools mcopy); GPT and MBR disk images (sgdisk,
  each partition); qcow2 and VMDK (qemu-img convert); anything else is carved for compressed
  streams and squashfs images at any offset (PE sections of UKIs, XFS partitions).
Prints "HIT <needle> in <path of containers>" per find and a last line
"scanned N objects (M bytes)"; exits 1 when something was found, 2 on a tool failure.
Deliberately independent of airfactory's own readers.
"""
import argparse
import hashlib
import lzma
import mmap
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zlib

MAX_OUT = 8 << 30      # decompressed bytes per stream
MAX_CARVE = 4000       # carving attempts per object
CHUNK = 1 << 20


def data_extents(path, start, end):
    """[(s, e)] of the regions of path in [start, end) that hold data (SEEK_DATA/SEEK_HOLE; the
    whole range where the file system cannot tell)."""
    out = []
    with open(path, "rb") as f:
        fd = f.fileno()
        pos = start
        try:
            while pos < end:
                try:
                    s = os.lseek(fd, pos, os.SEEK_DATA)
                except OSError:  # ENXIO: only a hole is left
                    break
                if s >= end:
                    break
                e = min(os.lseek(fd, s, os.SEEK_HOLE), end)
                out.append((s, e))
                pos = e
        except (AttributeError, OSError):
            return [(start, end)]
    return out


class Scanner:
    def __init__(self, needles, work):
        self.needles = needles  # [(name, [bytes...])]
        self.work = work
        self.seen = set()
        self.hits = []
        self.objects = 0
        self.bytes = 0
        self.n = 0

    def tmp(self, suffix=""):
        self.n += 1
        return os.path.join(self.work, f"o{self.n}{suffix}")

    # ------------------------------------------------------------ entry points
    def scan_path(self, path, where):
        if os.path.islink(path):
            return
        if os.path.isdir(path):
            for n in sorted(os.listdir(path)):
                self.scan_path(os.path.join(path, n), f"{where}/{n}")
            return
        if os.path.isfile(path) and os.path.getsize(path) > 0:
            self.scan_file(path, where)

    def scan_file(self, path, where, depth=0):
        size = os.path.getsize(path)
        if size == 0 or depth > 12:
            return
        # disk images are mostly holes: only their data extents are hashed and searched
        extents = data_extents(path, 0, size)
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for s, e in extents:
                h.update(b"%d:" % s)
                f.seek(s)
                left = e - s
                while left:
                    b = f.read(min(CHUNK, left))
                    if not b:
                        break
                    h.update(b)
                    left -= len(b)
        key = h.digest()
        if key in self.seen:
            return
        self.seen.add(key)
        self.objects += 1
        self.bytes += sum(e - s for s, e in extents)
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            self.extents = extents
            for name, variants in self.needles:
                if any(m.find(v, s, e) >= 0 for v in variants for s, e in extents):
                    self.hits.append((name, where))
            handled = self.unpack(path, m, where, depth)
            if not handled:
                self.carve(path, m, where, depth, extents)

    # ------------------------------------------------------------ formats
    def unpack(self, path, m, where, depth):
        head = m[:8]
        size = len(m)
        if head.startswith(b"070701") or head.startswith(b"070702"):
            self.cpio(path, m, 0, where, depth)
            return True
        if head.startswith(b"\x1f\x8b"):
            return self.decompress(path, 0, "gzip", where, depth)
        if head.startswith(b"\xfd7zXZ\x00"):
            return self.decompress(path, 0, "xz", where, depth)
        if head.startswith(b"\x28\xb5\x2f\xfd"):
            return self.decompress(path, 0, "zstd", where, depth)
        if head.startswith(b"hsqs"):
            return self.squashfs(path, 0, where, depth)
        if head.startswith(b"QFI\xfb") or head.startswith(b"KDMV") or m[:21] == b"# Disk DescriptorFile":
            out = self.tmp(".raw")
            r = subprocess.run(["qemu-img", "convert", "-O", "raw", path, out], capture_output=True)
            if r.returncode == 0:
                self.scan_file(out, where + "!raw", depth + 1)
                os.unlink(out)
                return True
        if size > 0x8006 and m[0x8001:0x8006] == b"CD001":
            self.iso(path, where, depth)
            self.partitions(path, m, where, depth)  # hybrid ISO: its MBR/GPT partitions (the ESP)
            self.carve(path, m, where, depth)
            return True
        if size >= 4096 + 8 and (m[512:520] == b"EFI PART" or m[4096:4104] == b"EFI PART"):
            self.partitions(path, m, where, depth)
            return True
        if size >= 512 and m[510:512] == b"\x55\xaa" and (m[0x36:0x39] == b"FAT" or m[0x52:0x55] == b"FAT"):
            self.fat(path, where, depth)
            self.carve(path, m, where, depth)
            return True
        if size >= 512 and m[257:262] == b"ustar":
            self.tar(path, where, depth)
            return True
        return False

    def decompress(self, path, offset, kind, where, depth):
        out = self.tmp("." + kind)
        total = 0
        ok = False
        if kind == "zstd":
            with open(path, "rb") as f, open(out, "wb") as o:
                f.seek(offset)
                r = subprocess.run(["zstd", "-dcq", "--sparse"], stdin=f, stdout=o, stderr=subprocess.DEVNULL)
            total = os.path.getsize(out)
            ok = total > 0 or r.returncode == 0
        else:
            with open(path, "rb") as f, open(out, "wb") as o:
                f.seek(offset)
                d = zlib.decompressobj(16 + zlib.MAX_WBITS) if kind == "gzip" else lzma.LZMADecompressor()
                try:
                    while total < MAX_OUT:
                        b = f.read(CHUNK)
                        if not b:
                            break
                        while b:
                            data = d.decompress(b)
                            o.write(data)
                            total += len(data)
                            if d.eof:  # concatenated members/streams go on after this one
                                b = d.unused_data
                                if not b or (kind == "gzip" and not b.startswith(b"\x1f\x8b")) or \
                                        (kind == "xz" and not b.lstrip(b"\0").startswith(b"\xfd7zXZ")):
                                    b = b""
                                    raise EOFError
                                b = b.lstrip(b"\0") if kind == "xz" else b
                                d = zlib.decompressobj(16 + zlib.MAX_WBITS) if kind == "gzip" \
                                    else lzma.LZMADecompressor()
                            else:
                                b = b""
                    ok = total > 0
                except EOFError:
                    ok = total > 0
                except (zlib.error, lzma.LZMAError):
                    ok = total > 0
        if ok:
            self.scan_file(out, f"{where}!{kind}@{offset}", depth + 1)
        os.unlink(out)
        return ok

    def cpio(self, path, m, pos, where, depth):
        size = len(m)
        while pos + 110 <= size:
            magic = m[pos:pos + 6]
            if magic not in (b"070701", b"070702"):
                # past a trailer: zero padding, then maybe another archive or a compressed stream
                nz = pos
                while nz < size and m[nz] == 0:
                    nz += 1
                if nz >= size:
                    return
                rest = m[nz:nz + 8]
                if rest.startswith(b"070701") or rest.startswith(b"070702"):
                    pos = nz
                    continue
                for kind, mg in (("zstd", b"\x28\xb5\x2f\xfd"), ("xz", b"\xfd7zXZ\x00"), ("gzip", b"\x1f\x8b")):
                    if rest.startswith(mg):
                        self.decompress(path, nz, kind, where, depth)
                        return
                return
            try:
                fields = [int(m[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
            except ValueError:
                return
            mode, filesize, namesize = fields[1], fields[6], fields[11]
            name_start = pos + 110
            name = bytes(m[name_start:name_start + namesize - 1]).decode(errors="replace")
            data_start = (name_start + namesize + 3) & ~3
            data_end = data_start + filesize
            if name == "TRAILER!!!":
                pos = (data_end + 3) & ~3
                continue
            if (mode & 0o170000) == 0o100000 and filesize:
                out = self.tmp()
                with open(out, "wb") as o:
                    o.write(m[data_start:data_end])
                self.scan_file(out, f"{where}!cpio:{name}", depth + 1)
                os.unlink(out)
            pos = (data_end + 3) & ~3

    def squashfs(self, path, offset, where, depth):
        src = path
        if offset:
            src = self.tmp(".sqsh")
            with open(path, "rb") as f, open(src, "wb") as o:
                f.seek(offset)
                shutil.copyfileobj(f, o)
        d = self.tmp(".d")
        r = subprocess.run(["unsquashfs", "-no-xattrs", "-n", "-d", d, src], capture_output=True)
        ok = r.returncode == 0 or os.path.isdir(d)
        if ok:
            self.scan_path(d, f"{where}!squashfs@{offset}")
            shutil.rmtree(d, ignore_errors=True)
        if offset:
            os.unlink(src)
        return ok

    def iso(self, path, where, depth):
        d = self.tmp(".iso")
        r = subprocess.run(["xorriso", "-osirrox", "on", "-indev", path, "-extract", "/", d],
                           capture_output=True)
        if r.returncode != 0:
            print(f"TOOL xorriso failed on {where}: {r.stderr.decode(errors='replace')[-300:]}", file=sys.stderr)
            sys.exit(2)
        subprocess.run(["chmod", "-R", "u+rwX", d])
        self.scan_path(d, f"{where}!iso")
        shutil.rmtree(d, ignore_errors=True)

    def fat(self, path, where, depth):
        d = self.tmp(".fat")
        os.makedirs(d)
        r = subprocess.run(["mcopy", "-s", "-n", "-m", "-i", path, "::/", d], capture_output=True,
                           env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})
        if r.returncode != 0:
            print(f"TOOL mcopy failed on {where}: {r.stderr.decode(errors='replace')[-300:]}", file=sys.stderr)
            sys.exit(2)
        self.scan_path(d, f"{where}!fat")
        shutil.rmtree(d, ignore_errors=True)

    def partitions(self, path, m, where, depth):
        """Each GPT (or hybrid MBR) partition as a sparse file of its own: only data is copied."""
        r = subprocess.run(["sgdisk", "-p", path], capture_output=True, text=True)
        sector = 512
        sm = re.search(r"Sector size \(logical(?:/physical)?\): (\d+)", r.stdout)
        if sm:
            sector = int(sm.group(1))
        for line in r.stdout.splitlines():
            f = line.split()
            if len(f) >= 3 and f[0].isdigit() and f[1].isdigit() and f[2].isdigit():
                first, last = int(f[1]), int(f[2])
                start, end = first * sector, min((last + 1) * sector, len(m))
                out = self.tmp(f".p{f[0]}")
                with open(out, "wb") as o:
                    for s, e in data_extents(path, start, end):
                        o.seek(s - start)
                        o.write(m[s:e])
                    o.truncate(end - start)
                self.scan_file(out, f"{where}!part{f[0]}", depth + 1)
                os.unlink(out)

    def tar(self, path, where, depth):
        try:
            with tarfile.open(path) as t:
                for member in t:
                    if not member.isfile() or member.size == 0:
                        continue
                    out = self.tmp()
                    with t.extractfile(member) as src, open(out, "wb") as o:
                        shutil.copyfileobj(src, o)
                    self.scan_file(out, f"{where}!tar:{member.name}", depth + 1)
                    os.unlink(out)
        except tarfile.TarError:
            self.carve(path, None, where, depth)

    def carve(self, path, m, where, depth, extents=None):
        if m is None:
            with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                return self.carve(path, mm, where, depth)
        if extents is None:
            extents = data_extents(path, 0, len(m))
        attempts = 0
        for kind, magic in (("zstd", b"\x28\xb5\x2f\xfd"), ("xz", b"\xfd7zXZ\x00"), ("gzip", b"\x1f\x8b\x08"),
                            ("squashfs", b"hsqs")):
            for s, e in extents:
                pos = m.find(magic, max(s, 1), e)
                while pos >= 0 and attempts < MAX_CARVE:
                    attempts += 1
                    if kind == "squashfs":
                        self.squashfs(path, pos, where, depth)
                    else:
                        self.decompress(path, pos, kind, where, depth)
                    pos = m.find(magic, pos + 1, e)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--needle", action="append", default=[], help="NAME=FILE")
    ap.add_argument("paths", nargs="+")
    a = ap.parse_args()
    needles = []
    for spec in a.needle:
        name, _, file = spec.partition("=")
        data = open(file, "rb").read()
        variants = [data]
        if len(data) > 96:
            mid = len(data) // 2
            variants.append(data[mid - 24:mid + 24])
        needles.append((name, variants))
    work = tempfile.mkdtemp(prefix="asset-scan-")
    try:
        s = Scanner(needles, work)
        for p in a.paths:
            s.scan_path(p, p)
        for name, where in s.hits:
            print(f"HIT {name} in {where}")
        print(f"scanned {s.objects} objects ({s.bytes} bytes)")
        return 1 if s.hits else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
