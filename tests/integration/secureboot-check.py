#!/usr/bin/python3
# secureboot-check.py — independent checks of airfactory's SecureBoot outputs (used by secureboot.sh;
# not a suite: run.sh runs *.sh only). Written from the specifications, not from airfactory's code:
#   pcrsig UKI PCRPUB.pem OUTDIR
#       for every .pcrsig of the UKI (one per .profile, or one for a UKI without profiles):
#       recompute PCR 11 for SHA-256/384/512 from the UKI's own sections as systemd-stub measures
#       them (UAPI "unified kernel image" order, profile sections overlaid on the base ones, phases
#       enter-initrd, leave-initrd, enter-machined), the TPM2 PolicyPCR digest, and compare with
#       the JSON; write OUTDIR/<n>-<bank>.{pol,sig} for `openssl dgst -verify`. Prints one line
#       per checked signature; exits 1 on a mismatch.
#   auth FILE NAME CERT.der OUTDIR
#       parse an EFI_VARIABLE_AUTHENTICATION_2 file (PK.auth ...): EFI_TIME, WIN_CERTIFICATE_UEFI_GUID
#       with EFI_CERT_TYPE_PKCS7_GUID, the EFI_SIGNATURE_LIST (EFI_CERT_X509_GUID, the certificate);
#       write OUTDIR/NAME.p7 (the SignedData wrapped in a ContentInfo) and OUTDIR/NAME.tbs (the
#       signed bytes) for `openssl cms -verify`.
import base64
import hashlib
import json
import struct
import sys
import uuid

import pefile

ORDER = [".linux", ".osrel", ".cmdline", ".initrd", ".ucode", ".splash", ".dtb", ".uname", ".sbat", ".pcrpkey",
         ".profile", ".dtbauto", ".hwids"]
BANKS = [("sha256", 0x000B), ("sha384", 0x000C), ("sha512", 0x000D)]


def section_bytes(s):
    data = s.get_data()
    vs = s.Misc_VirtualSize
    return data[:vs] + b"\0" * max(0, vs - len(data))


def pcr(sections, bank):
    h = lambda b: hashlib.new(bank, b).digest()
    v = b"\0" * hashlib.new(bank).digest_size
    for name in ORDER:
        if name in sections:
            v = h(v + h(name.encode() + b"\0"))
            v = h(v + h(sections[name]))
    for phase in ("enter-initrd", "leave-initrd", "enter-machined"):
        v = h(v + h(phase.encode()))
    return v


def cmd_pcrsig(uki, pub_pem, outdir):
    pe = pefile.PE(uki, fast_load=True)
    secs = [(s.Name.rstrip(b"\0").decode(), section_bytes(s)) for s in pe.sections]
    base, profiles, current = {}, [], None
    for name, data in secs:
        if name == ".profile":
            current = {".profile": data}
            profiles.append(current)
        elif name == ".pcrsig":
            (current if current is not None else base)[".pcrsig"] = data
        elif current is None:
            base[name] = data
        else:
            current[name] = data
    units = [dict(base, **p) for p in profiles] if profiles else [base]
    der = subprocess_pubkey_der(pub_pem)
    fp = hashlib.sha256(der).hexdigest()
    ok = True
    if base.get(".pcrpkey", b"").decode() != open(pub_pem).read():
        print("FAIL .pcrpkey is not the PCR public key")
        ok = False
    for n, unit in enumerate(units):
        if ".pcrsig" not in unit:
            print("FAIL unit %d has no .pcrsig" % n)
            ok = False
            continue
        sig = json.loads(unit[".pcrsig"])
        measured = {k: v for k, v in unit.items() if k != ".pcrsig"}
        for bank, alg in BANKS:
            entry = sig[bank][0]
            value = pcr(measured, bank)
            pol = hashlib.sha256(b"\0" * 32 + bytes.fromhex("0000017f00000001") + struct.pack(">H", alg) +
                                 bytes.fromhex("03000800") + hashlib.sha256(value).digest()).hexdigest()
            good = entry["pcrs"] == [11] and entry["pkfp"] == fp and entry["pol"] == pol
            print("%s profile-%d %s pcr11=%s" % ("ok" if good else "FAIL", n, bank, value.hex()))
            ok = ok and good
            open("%s/%d-%s.pol" % (outdir, n, bank), "wb").write(bytes.fromhex(entry["pol"]))
            open("%s/%d-%s.sig" % (outdir, n, bank), "wb").write(base64.b64decode(entry["sig"]))
    print("units %d" % len(units))
    return 0 if ok else 1


def subprocess_pubkey_der(pub_pem):
    import subprocess
    # PKCS#1 RSAPublicKey DER (what systemd's pubkey_fingerprint hashes)
    return subprocess.run(["openssl", "rsa", "-pubin", "-in", pub_pem, "-RSAPublicKey_out", "-outform", "DER"],
                          check=True, capture_output=True).stdout


def efi_guid(text):
    return uuid.UUID(text).bytes_le


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def cmd_auth(path, name, cert_der_path, outdir):
    data = open(path, "rb").read()
    cert = open(cert_der_path, "rb").read()
    when = data[:16]
    year, month, day, hour, minute, second, pad1, nano, tz, dl, pad2 = struct.unpack("<HBBBBBBIhBB", when)
    length, rev, ctype = struct.unpack("<IHH", data[16:24])
    certtype = data[24:40]
    p7 = data[40:16 + length]
    esl = data[16 + length:]
    ok = rev == 0x0200 and ctype == 0x0EF1 and certtype == efi_guid("4aafd29d-68df-49ee-8aa9-347d375665a7")
    ok = ok and pad1 == 0 and nano == 0 and tz == 0 and dl == 0 and pad2 == 0 and 1 <= month <= 12
    sigtype = esl[:16]
    list_size, header_size, sig_size = struct.unpack("<III", esl[16:28])
    ok = ok and sigtype == efi_guid("a5c059a1-94e4-4aa7-87b5-ab155c2bf072") and list_size == len(esl)
    ok = ok and header_size == 0 and sig_size == 16 + len(cert) and esl[28 + 16:] == cert
    # EDK2 reads the digest algorithm at a fixed offset of the bare SignedData: SHA-256's OID there
    ok = ok and p7[:2] == b"\x30\x82" and p7[13:13 + 9] == bytes.fromhex("608648016503040201")
    vendor = "d719b2cb-3d3a-4596-a3bc-dad00e67656f" if name == "db" else "8be4df61-93ca-11d2-aa0d-00e098032b8c"
    tbs = name.encode("utf-16-le") + efi_guid(vendor) + struct.pack("<I", 0x27) + when + esl
    oid = bytes.fromhex("06092a864886f70d010702")
    inner = b"\xa0" + der_len(len(p7)) + p7
    body = oid + inner
    open("%s/%s.p7" % (outdir, name), "wb").write(b"\x30" + der_len(len(body)) + body)
    open("%s/%s.tbs" % (outdir, name), "wb").write(tbs)
    print("%s %s.auth time %04d-%02d-%02d %02d:%02d:%02d owner %s" % ("ok" if ok else "FAIL", name, year, month, day,
                                                                      hour, minute, second,
                                                                      uuid.UUID(bytes_le=esl[28:44])))
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1] == "pcrsig":
        sys.exit(cmd_pcrsig(*sys.argv[2:5]))
    if sys.argv[1] == "auth":
        sys.exit(cmd_auth(*sys.argv[2:6]))
    sys.exit(2)
