#!/usr/bin/python3
"""initramfs-unpack.py — unpack a Talos initramfs into a directory, independently of airfactory.

  initramfs-unpack.py INITRAMFS DIR

The file is one or more newc cpio archives, each uncompressed or zstd/xz compressed, one after the
other (the early microcode cpio, the imager's base, the appended extensions archive). Every member
of every archive is written under DIR (regular files with their mode, directories, symlinks); a
later archive's member replaces an earlier one's, as the kernel does. Prints one line per member:
"<mode octal> <path>". zstd runs as the outside `zstd` tool; xz uses the standard library.
"""
import lzma
import os
import subprocess
import sys

ZSTD = b"\x28\xb5\x2f\xfd"
XZ = b"\xfd7zXZ\x00"


def decompress(data):
    """Split data into cpio byte streams: uncompressed runs are taken as they are, a compressed
    tail is decompressed whole (zstd and xz decoders both read concatenated frames)."""
    out = b""
    pos = 0
    while pos < len(data):
        rest = data[pos:]
        if rest.startswith(ZSTD):
            out += subprocess.run(["zstd", "-dc"], input=rest, capture_output=True, check=True).stdout
            break
        if rest.startswith(XZ):
            out += lzma.decompress(rest)
            break
        if rest.startswith(b"070701"):
            end = parse(rest, None)  # length of this uncompressed archive, padding included
            out += rest[:end]
            pos += end
            while pos < len(data) and data[pos] == 0:
                pos += 1
            continue
        if rest.strip(b"\x00") == b"":
            break
        sys.exit(f"initramfs-unpack: unknown data at offset {pos}")
    return out


def parse(data, dest, listing=None):
    """Members of the newc archives in data; returns where the first archive's trailer ends
    (dest None: only measure)."""
    pos = 0
    while pos + 110 <= len(data):
        if data[pos:pos + 6] != b"070701":
            if data[pos] == 0:
                pos += 1
                continue
            sys.exit(f"initramfs-unpack: bad cpio magic at {pos}")
        h = data[pos:pos + 110]
        mode = int(h[14:22], 16)
        size = int(h[54:62], 16)
        namesize = int(h[94:102], 16)
        name = data[pos + 110:pos + 110 + namesize - 1].decode()
        body = (pos + 110 + namesize + 3) & ~3
        end = (body + size + 3) & ~3
        if name == "TRAILER!!!":
            if dest is None:
                return (end + 511) & ~511 if end % 512 else end
            pos = end
            continue
        if dest is not None and name not in (".", ""):
            target = os.path.join(dest, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            kind = mode & 0o170000
            if kind == 0o040000:
                os.makedirs(target, exist_ok=True)
            elif kind == 0o120000:
                if os.path.lexists(target):
                    os.unlink(target)
                os.symlink(data[body:body + size].decode(), target)
            elif kind == 0o100000:
                if os.path.lexists(target):
                    os.unlink(target)
                with open(target, "wb") as f:
                    f.write(data[body:body + size])
                os.chmod(target, mode & 0o7777)
            print(f"{mode & 0o7777:04o} {name}")
        pos = end
    return pos


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    os.makedirs(sys.argv[2], exist_ok=True)
    parse(decompress(data), sys.argv[2])


if __name__ == "__main__":
    main()
