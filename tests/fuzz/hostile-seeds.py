#!/usr/bin/env python3
"""tests/fuzz/hostile-seeds.py — write the hostile-input regression seeds under tests/fuzz/seeds/.

Every input an adversarial campaign (issue #14) used against airfactory, plus the inputs that
once cost seconds or gigabytes, as seeds for the libFuzzer targets: `make fuzz` replays them
first, so a regression of any limit fails the short run, and the campaign mutates from them
(they reach the 1 MiB input cap). The files are committed; rerun this after changing a case:

    python3 tests/fuzz/hostile-seeds.py        # rewrites tests/fuzz/seeds/*/hostile-*

Deterministic: no randomness, no timestamps.
"""
import os
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
MIB = 1 << 20
OVERLAY = "overlay:\n  image: i\n  name: n\n  options:\n"


def flow_list(items):
    return "[" + ", ".join(items) + "]"


def schematic_seeds():
    s = {}
    # the bomb: a ~1 MiB scalar aliased 1 500 times (1.5 GB once copied)
    head = "customization:\n  extraKernelArgs:\n    - &a "
    tail = "    - *a\n" * 1500
    s["alias-bomb-1mib-scalar"] = head + "x" * (MIB - len(head) - len(tail) - 1) + "\n" + tail
    # billion laughs: ten copies of ten copies ... nine levels
    laughs = "a0: &a0 " + flow_list(["lol"] * 10) + "\n"
    for i in range(1, 9):
        laughs += "a%d: &a%d %s\n" % (i, i, flow_list(["*a%d" % (i - 1)] * 10))
    s["billion-laughs"] = laughs
    # go-yaml's alias ratio exactly at its boundary (refused) and just under it (accepted)
    s["alias-ratio-refused"] = "a: &a %s\nb: %s\n" % (flow_list(["x"] * 198), flow_list(["*a"] * 202))
    s["alias-ratio-accepted"] = "a: &a %s\nb: %s\n" % (flow_list(["x"] * 198), flow_list(["*a"] * 201))
    # aliases of scalars: never excessive for go-yaml, bounded in bytes here
    s["alias-many-small"] = ("customization:\n  extraKernelArgs:\n    - &a console=ttyS0\n"
                             + "    - *a\n" * 3000)
    # an alias that copies deep nesting to a deep place
    s["alias-deep-copy"] = "a: &a %s%s\nb: %s*a%s\n" % ("[" * 60, "]" * 60, "[" * 60, "]" * 60)
    # nesting bombs, flow and block, at the 1 MiB input cap
    s["nesting-flow-1mib"] = "[" * (MIB - 1) + "\n"
    s["nesting-flow-mapping"] = "{a: " * 5000 + "b" + "}" * 5000 + "\n"
    s["nesting-block"] = "- " * (MIB // 2 - 2) + "x\n"
    s["nesting-indented"] = "".join("  " * i + "k%d:\n" % i for i in range(900)) + "  " * 900 + "v\n"
    # 60 000 keys in one option mapping (was quadratic: 51 s)
    s["many-option-keys"] = (OVERLAY + "    k:\n"
                             + "".join("      k%d: 1\n" % i for i in range(60000)))
    # keys with long digit runs: go-yaml's natural order overflows (the order proof was 20 s)
    digits = "9876543210" * 200
    s["digit-run-keys"] = (OVERLAY + "    k:\n"
                           + "".join("      ? k%d%s\n      : 1\n" % (i, digits) for i in range(300)))
    # keys that are equal or print alike as Go map keys (the round-trip abort of make fuzz)
    s["keys-print-alike"] = OVERLAY + "    k: {1: a, 1.: b, 0x1: c, 0.0: d, -0.0: e, ~: f, null: g}\n"
    s["keys-typed-mix"] = (OVERLAY + "    k: {true: a, True: b, 18446744073709551615: c, 1e400: d, "
                           ".inf: e, -.inf: f, 2001-12-14: g, 0b1: h, 0o1: i, +1: j}\n")
    # one huge scalar, plain and quoted and literal (emitter and quoting rules on 1 MiB)
    s["long-scalar-plain"] = "customization:\n  extraKernelArgs:\n    - " + "a" * (MIB - 64) + "\n"
    s["long-scalar-escapes"] = ('customization:\n  extraKernelArgs:\n    - "'
                                + "\\t\\x01\\u00e9" * ((MIB - 64) // 14) + '"\n')
    s["long-literal-block"] = ("customization:\n  embeddedMachineConfiguration: |\n"
                               + "    line: value\n" * ((MIB - 64) // 16))
    s["long-json-string"] = '{"customization": {"extraKernelArgs": ["' + "b" * (MIB - 64) + '"]}}'
    # a byte order mark, NUL escapes, invalid UTF-8, control characters
    s["bom"] = "\ufeffcustomization: {}\n"
    s["bom-twice"] = "\ufeff\ufeffcustomization: {}\n"
    s["nul-escape"] = 'customization:\n  extraKernelArgs: ["a\\0b"]\n'
    s["invalid-utf8"] = b"customization:\n  extraKernelArgs: [\xff\xfe\xc3]\n"
    s["control-chars"] = "customization:\n  extraKernelArgs: [\"\\x1b[31m\\r\\n\"]\n"
    # out-of-range numbers and timestamps
    s["huge-numbers"] = ("customization:\n  meta:\n    - key: 99999999999999999999999999\n      value: x\n"
                         "    - key: 0x1ffffffffffffffff\n      value: y\n  diskImage:\n"
                         "    sectorSize: 18446744073709551616\n")
    s["timestamp-fraction"] = OVERLAY + "    k: 2001-12-14t21:59:43." + "1" * 5000 + "-05:00\n"
    s["second-document"] = "customization: {}\n---\ncustomization: {}\n"
    return s


def manifest_seeds():
    m = {}
    head = ("schematics:\n  - name: bomb\n    schematic:\n      customization:\n"
            "        extraKernelArgs:\n          - &a ")
    tail = "          - *a\n" * 1500 + "versions: [v1.11.3]\narchitectures: [amd64]\noutputs: [kernel]\n"
    m["alias-bomb-1mib-scalar"] = head + "x" * (MIB - len(head) - len(tail) - 1) + "\n" + tail
    base = ("schematics:\n  - name: vanilla\n    schematic:\n      customization: {}\n"
            "versions: [v1.11.3]\narchitectures: [amd64]\noutputs: [kernel, metal.iso]\n"
            "sources:\n  - {role: imager, path: imager.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}\n")
    m["bom"] = "\ufeff" + base
    m["long-paths"] = base.replace("imager.oci.tar", "/".join(["d" * 255] * 16) + "/imager.oci.tar")
    m["dotdot-paths"] = base.replace("imager.oci.tar", "../" * 2000 + "etc/shadow")
    m["nesting-flow"] = "schematics: " + "[" * 20000 + "]" * 20000 + "\n"
    m["many-versions"] = base.replace("[v1.11.3]", flow_list(["v1.%d.%d" % (i // 100, i % 100) for i in range(20000)]))
    m["huge-version-numbers"] = base.replace("v1.11.3]", "v99999999999999999999.1.1, v1.11.3-" + "a" * 60000 + "]")
    return m


def http_seeds():
    h = {}
    get = "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n"
    img = "/image/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba/v1.11.3/kernel-amd64"
    h["range-u64-max"] = get % (img, "Range: bytes=0-18446744073709551615\r\n")
    h["range-beyond-u64"] = get % (img, "Range: bytes=0-18446744073709551616\r\n")
    h["range-suffix-huge"] = get % (img, "Range: bytes=-99999999999999999999999\r\n")
    h["range-many"] = get % (img, "Range: bytes=" + ",".join("%d-%d" % (i, i) for i in range(1500)) + "\r\n")
    h["path-4k"] = get % ("/" + "a" * 4095, "")
    h["path-6k"] = get % (img + "/" + "b" * 6000, "")
    h["path-8k-over"] = get % ("/" + "c" * 8200, "")
    h["path-percent-6k"] = get % ("/" + "%41" * 2000, "")
    h["head-long-path"] = "HEAD /%s HTTP/1.1\r\nHost: x\r\n\r\n" % ("d" * 7000)
    h["content-length-huge"] = "POST /schematics HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n"
    h["content-length-4mib-plus"] = "POST /schematics HTTP/1.1\r\nHost: x\r\nContent-Length: 4194305\r\n\r\n"
    h["smuggle-cl-te"] = ("POST /schematics HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n")
    h["smuggle-cl-cl"] = "POST /schematics HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd"
    h["many-headers"] = get % ("/healthz", "".join("X-H%d: v\r\n" % i for i in range(150)))
    h["header-16k"] = get % ("/healthz", "X-Big: " + "v" * 16400 + "\r\n")
    h["pipelined"] = (get % ("/healthz", "") + "HEAD /versions HTTP/1.1\r\nHost: x\r\n\r\n"
                      + "POST /schematics HTTP/1.1\r\nHost: x\r\nContent-Length: 19\r\n\r\ncustomization: {}\n\n")
    h["bare-lf"] = "GET / HTTP/1.1\nHost: x\n\n"
    h["nul-in-path"] = "GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n"
    return h


def write(target, seeds):
    d = os.path.join(ROOT, "seeds", target)
    os.makedirs(d, exist_ok=True)
    for name in os.listdir(d):
        if name.startswith("hostile-"):
            os.unlink(os.path.join(d, name))
    for name, data in sorted(seeds.items()):
        if isinstance(data, str):
            data = data.encode("utf-8")
        if len(data) > MIB:
            sys.exit("hostile-seeds.py: %s/%s is %d bytes, over the 1 MiB fuzz input cap" % (target, name, len(data)))
        with open(os.path.join(d, "hostile-" + name), "wb") as f:
            f.write(data)


write("fuzz_schematic", schematic_seeds())
write("fuzz_manifest", manifest_seeds())
write("fuzz_http_request", http_seeds())
