#!/usr/bin/env python3
"""Generate differential inputs for the schematic decoder/encoder (separated by \n%%%%\n)."""
import sys, json, random

def q(s):
    """YAML double-quoted scalar with every non-printable-ASCII character escaped."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"': out.append('\\"')
        elif ch == '\\': out.append('\\\\')
        elif 0x20 <= o < 0x7f: out.append(ch)
        elif o < 0x100: out.append('\\x%02X' % o)
        elif o < 0x10000: out.append('\\u%04X' % o)
        else: out.append('\\U%08X' % o)
    out.append('"')
    return ''.join(out)

ATOMS = ["", " ", "a", "a b", " a", "a ", "a  b", "-", "- a", "-a", "--- a", "---", "...", "....", "a: b", "a:b", "a:", "a #b", "a#b", "#a", "?", "? a", "?a", ":", ": a", ":a", "@a", "`a", "%a", "&a", "*a", "!a", "|a", ">a", "'a", "\"a", "a'b", "a\"b", "a\\b", "[a", "a]", "{a", "a}", ",a", "a,b", "a, b", "a?", "a[b]", "a{b}",
 "true","True","TRUE","false","yes","Yes","YES","no","on","off","Off","OFF","y","n","Y","N","null","Null","NULL","~","<<","<","1","-1","+1","0","-0","-0.0","+0","0.0","1.5","1e3","1E3","1e+3","1e-3",".5","._5",".5_5","5.","0x1F","0X1f","0o17","0O17","0b101","0B101","017","08","09","1_000","_1","1_","0x","0b","0o","+","-.","+.","1:20","1:2:3","-1:20","+1:20","1:60","12:30:45.5","1:20.5_5","1__0:1", ".inf", "-.inf", "+.inf", ".Inf", ".NaN", ".nan", ".NAN", "inf", "nan", "Infinity", "-inf",
 "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10", "2001-12-14T21:59:43Z", "2001-02-30", "2000-02-29", "1900-02-29", "2001-1-5", "2001-12-14T25:00:00Z", "2001-12-14T21:59:43+05", "2001-12-14T21:59:43.123456789123Z", "20011-12-14", "2001-12-14 ", "2001-12-14T21:59:43,5Z", "2001-12-14T21:59:43.000Z", "2001-12-14T21:59:43+00:00", "2001-12-14T21:59:43-24:00", "2001-12-14T21:59:43+05:60", "2001-12-14 1:2:3", "0001-01-01", "2001-13-01", "2001-00-10",
 "99999999999999999999", "18446744073709551615", "18446744073709551616", "-9223372036854775808", "-9223372036854775809", "9223372036854775807", "9223372036854775808", "1e400", "1e-400", "123456789012345678901234567890", "0x8000000000000000", "0xFFFFFFFFFFFFFFFF", "0x10000000000000000", "-0x10",
 "a\nb", "a\nb\n", "a\nb\n\n", "\na", "\n\na\n", " a\nb", "a \nb", "a\n b", "\n", "\n\n", " \n", "a\tb", "\tb", "a\t", "a\t\nb", "a\rb", "a\r\nb", "a\u0085b", "a\u2028b", "a\u2029b", "\u2028", "a\u00a0b", "\u00a0", "\u00e9", "\u65e5\u672c", "\U0001F600", "a\U0001F600", "\ufeff", "\ufeffab", "a\ufeff", "\u007f", "a\u0001b", "\u001b", "\ufffe", "\ue000", "\ud7ff", "a\u200bb", "a\u3000", "\u3000\n", "x\n\u3000", "a\nb\u2028c", "a\n\tb", "a\nb ", "  a\n", "a\n\n\nb", "apiVersion: v1alpha1\nkind: HostnameConfig\nhostname: worker-33", "a\x85", "\x85a",
 "a"*129, "a b"*50, "x"*128, "é"*70]

def seq(items): return "[" + ", ".join(items) + "]"

inputs = []
def add(s): inputs.append(s)

for a in ATOMS:
    qa = q(a)
    add('{"customization": {"extraKernelArgs": [%s]}}' % qa)
    add('{"customization": {"meta": [{"key": 10, "value": %s}]}}' % qa)
    add('{"customization": {"embeddedMachineConfiguration": %s}}' % qa)
    add('{"customization": {"secureboot": {"enrollKeys": %s}}}' % qa)
    add('{"customization": {"systemExtensions": {"officialExtensions": [%s, "x"]}}}' % qa)
    add('{"overlay": {"image": %s, "name": "n"}}' % qa)
    add('{"overlay": {"image": "i", "name": "n", "options": {%s: 1, "k": %s}}}' % (qa, qa))
    # plain spelling in YAML flow/block when safe-ish
    if a and "\n" not in a and all(0x20 <= ord(c) < 0x7f for c in a):
        add('customization:\n  extraKernelArgs:\n    - %s\n' % a)
        add('overlay:\n  image: i\n  name: n\n  options:\n    k: %s\n' % a)
        add("customization:\n  extraKernelArgs: ['%s']\n" % a.replace("'", "''"))

# typed scalars into string fields and options
for v in ["10", "true", "1.5", "~", "null", "0x1F", ".inf", "2001-12-14", "-0", "1e6", "99999999999999999999", "off", "yes", "0o17", '"10"', "'x'", "!!str 10", "!!int 10", "!!float 1", "!!int abc", "!!bool yes", "!!null ~", "!!timestamp 2001-12-14", "!foo bar", "! 'x'", "[a]", "{a: b}", "&x a", "|\n      lit\n", ">\n      fold\n      ed\n", "|+\n      keep\n\n", "<<"]:
    add("customization:\n  extraKernelArgs:\n    - %s\n" % v)
    add("overlay:\n  image: i\n  name: n\n  options:\n    k: %s\n" % v)
    add("overlay:\n  image: i\n  name: n\n  options:\n    nested:\n      - %s\n" % v)
    add("customization:\n  embeddedMachineConfiguration: %s\n" % v)

# options typing and sorting
add("overlay:\n  image: i\n  name: n\n  options: {a: 1, b: 1.5, c: true, d: ~, e: 2001-12-14, f: [1, a, ~], g: {x: 1}, h: -0, i: 1e6, j: 99999999999999999999, k: .nan, l: 0x10, m: '10', n: {1: a, 2: b, 10: c, x: y}, o: {true: 1, 1: 2}, p: [], q: {}, r: 18446744073709551615, s: 1.0, t: 0.0001, u: 0.00001, v: 123456789.0, w: 1e21, x: 3.14159265358979, y: -1e-7, z: 100000.0}\n")
keys = ["a10", "a2", "a1", "b", "A", "_", "1", "10", "2", "01", "001", "a01", "a001", "\u00e9", "z", "a", "aa", "a_1", "a-1", "1a", "10a", "2a", "a1b", "a10b", "x0", "x00", "x01", "x1", "x1y", "x01y", "Z", "\u00c9", "\u0661", "a\u0661", "\u4e00", "0", "00", "-1", "1.5", "true", "null", ""]
for i in range(40):
    random.seed(i)
    ks = random.sample(keys, 8)
    add("overlay:\n  image: i\n  name: n\n  options:\n" + "".join("    %s: %d\n" % (q(k), j) for j, k in enumerate(ks)))
    add("overlay:\n  image: i\n  name: n\n  options:\n    nest:\n" + "".join("      %s: %d\n" % (q(k), j) for j, k in enumerate(ks)))
add("overlay:\n  image: i\n  name: n\n  options:\n    nest: {1: a, 1.5: b, true: c, ~: d, x: e, 0x1: f, -1: g, 18446744073709551615: h, false: i}\n")
add("overlay:\n  image: i\n  name: n\n  options:\n    nest: {0x1: a, 1: b}\n")
add("overlay:\n  image: i\n  name: n\n  options:\n    1: a\n    true: b\n    1.5: c\n")
add("overlay:\n  image: i\n  name: n\n  options:\n    ~: a\n")
add("overlay:\n  image: i\n  name: n\n  options:\n    2001-12-14: a\n")
add("overlay:\n  image: i\n  name: n\n  options:\n    nest: [[1, 2], [], {}, {a: [b, {c: d}]}, - , '']\n")
add("overlay:\n  image: i\n  name: n\n  options:\n    nest:\n      - - a\n        - b\n      - - c\n      - k: v\n        l: [1]\n      - []\n")
add("overlay:\n  image: i\n  name: n\n  options:\n    %s: v\n" % q("a"*129))
add("overlay:\n  image: i\n  name: n\n  options:\n    %s: v\n" % q("a\nb"))
add("overlay:\n  image: i\n  name: n\n  options:\n    %s: {x: y}\n" % q("a\nb"))
add("overlay:\n  image: i\n  name: n\n  options:\n    %s: [1, 2]\n" % q("k"*130))
add("overlay:\n  image: i\n  name: n\n  options:\n    nest:\n      %s: 1\n" % q("a\nb"))
add("overlay:\n  image: i\n  name: n\n  options:\n    k: %s\n" % q("line1\nline2\n"))
add("overlay:\n  image: i\n  name: n\n  options:\n    nest:\n      - %s\n" % q("line1\nline2\n"))
add("overlay:\n  image: i\n  name: n\n  options:\n    nest:\n      - k: %s\n" % q(" line1\nline2"))
add("overlay:\n  image: i\n  name: n\n  options: {}\n")
add("overlay:\n  image: i\n  name: n\n  options: ~\n")
add("overlay:\n  image: i\n  name: n\n  options: []\n")
add("overlay:\n  name: n\n")
add("overlay:\n  options: {a: 1}\n")
add("overlay: ~\n")
add("overlay: {}\n")
add("overlay: []\n")
add("overlay: x\n")

# meta keys and values
for k in ["0", "10", "0xa", "0XA", "0o12", "0b1010", "012", "255", "256", "-1", "10.0", "10.5", '"10"', "~", "1_0", "true", "0x", "1e1", "2.55e2", "!!float 10", "!!str 10", "[1]", "0xff", "0x100", "-0", "+10", "0.0", "'a'"]:
    add("customization:\n  meta:\n    - key: %s\n      value: v\n" % k)
add("customization:\n  meta:\n    - value: v\n")
add("customization:\n  meta:\n    - key: 1\n")
add("customization:\n  meta:\n    - {}\n")
add("customization:\n  meta:\n    - ~\n    - key: 2\n      value: x\n")
add("customization:\n  meta:\n    - key: 1\n      value: a\n      extra: 1\n")
add("customization:\n  meta: {key: 1}\n")
add("customization:\n  meta: ~\n")
add("customization:\n  meta: []\n")
add("customization:\n  meta:\n    - key: 10\n      value: |\n        addresses:\n          - 10.0.0.2/24\n        routes: []\n")
add("customization:\n  meta:\n    - key: 10\n      value: \"a\\nb\"\n    - key: 0xb\n      value: 'x y'\n")
add("customization:\n  meta:\n    - key: 10\n      value: 10\n")
add("customization:\n  meta:\n    - key: 10\n      value: ~\n")
add("customization:\n  meta:\n    - key: 10\n      value: [a]\n")
# sector sizes
for v in ["4096", "0", "-1", "4096.0", "4096.5", "0x1000", "18446744073709551615", "18446744073709551616", '"4096"', "~", "1e3", "true", "[1]", "512"]:
    add("customization:\n  diskImage:\n    sectorSize: %s\n" % v)
add("customization:\n  diskImage: ~\n")
add("customization:\n  diskImage: {}\n")
add("customization:\n  diskImage:\n    other: 1\n")
# bootloader
for v in ["grub", "GRUB", "Sd-Boot", "dual-boot", "DUAL-BOOT", "none", "NONE", "auto", '"grub"', "1", "~", "[grub]", '""', "sdboot", "'sd-boot'", "Grub "]:
    add("customization:\n  bootloader: %s\n" % v)
# secureboot bool
for v in ["true", "false", "yes", '"yes"', "off", "1", '"true"', "~", "True", "TRUE", "y", "Y", "n", "on", "On", "0", "[]", "'off'", "!!bool true", "!!str true"]:
    add("customization:\n  secureboot:\n    includeWellKnownCertificates: %s\n" % v)
add("customization:\n  secureboot:\n    enrollKeys: off\n    includeWellKnownCertificates: true\n")
add("customization:\n  secureboot:\n    enrollKeys: ~\n")
add("customization:\n  secureboot: {}\n")
add("customization:\n  secureboot:\n    other: 1\n")
# structure
for s in ["{}", "customization:", "customization: {}", "customization: ~", "customization: []", "customization: 1", "customization: ''", "~", "null", "", " ", "# comment\n", "---\n", "--- ~", "a: 1", "owner: alice", "owner: ''", "owner: ~", "owner: 1", "customization:\n  extraKernelArgs: []\n", "customization:\n  extraKernelArgs: ~\n", "customization:\n  extraKernelArgs: a\n", "customization:\n  extraKernelArgs: {a: b}\n", "customization:\n  extraKernelArgs: [a, ~, b]\n", "customization:\n  extraKernelArgs: [~]\n", "customization:\n  extraKernelArgs: [[a]]\n", "customization:\n  systemExtensions: ~\n", "customization:\n  systemExtensions: {}\n", "customization:\n  systemExtensions:\n    officialExtensions: ~\n", "customization:\n  systemExtensions:\n    other: 1\n", "customization:\n  systemExtensions: []\n", "customization: {}\ncustomization: {}\n", "customization:\n  extraKernelArgs: [a]\n  extraKernelArgs: [b]\n", "customization: {}\n---\ncustomization: {}\n", "customization: {}\n...\n", "[]", "1", "'x'", "customization:\n  Bootloader: grub\n", "Customization: {}", "customization:\n  extraKernelArgs: &a [x, y]\n  systemExtensions:\n    officialExtensions: *a\n", "customization:\n  extraKernelArgs: *a\n", "<<: {customization: {}}\n", "customization:\n  <<: {bootloader: grub}\n", "? [a]\n: b\n", "customization:\n  ? bootloader\n  : grub\n", "{\"customization\":{\"extraKernelArgs\":[\"a\"]}}", "{\"customization\" : {\"extraKernelArgs\" : [\"a\",\"b\"] } }", "customization:\n\textraKernelArgs: [a]\n", "customization: {extraKernelArgs: [a,b], meta: [{key: 1, value: x}]}\n", "\ufeffcustomization: {}\n", "customization:\n  extraKernelArgs:\n  - a\n  - b\n", "%YAML 1.1\n---\ncustomization: {}\n", "!!map {customization: {}}", "customization: !!map {}", "customization: !!seq []", "~: x", "customization:\n  ~: x\n", "customization: {extraKernelArgs: [a]} # c\n", "customization:\n  extraKernelArgs:\n    - a # comment\n    - 'b # not'\n"]:
    add(s)

sys.stdout.write("\n%%%%\n".join(inputs))
