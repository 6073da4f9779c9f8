#!/usr/bin/env python3
"""verify_vectors.py OUT — cosign/Sigstore test vectors made with the openssl CLI, for
tests/integration/verify.sh.

Every key, certificate, signature and timestamp is made by `openssl` (genpkey, req, x509, dgst,
pkeyutl, ts);
this script only arranges bytes with the Python standard library (JSON, base64, SHA-256 for the
RFC 6962 Merkle tree and OCI digests). Nothing here shares code with src/verify, so agreement
between it, the C verifier and @sigstore/verify is evidence, not an echo.

OUT receives:
  keys/…                 signing keys (PEM) of each type, the private Sigstore instance
  trusted_root.json      Fulcio CA chain, Rekor v1 key, Rekor v2 (Ed25519) log and TSA of that instance
                         (protobuf-specs JSON)
  layouts/<case>/        one OCI image layout per case: the image and its signature objects
  node/<case>.json       inputs for tests/integration/verify_sigstore.cjs
  cases.json             [{name, layout, digest, args, expect, method, message}]
"""
import base64
import hashlib
import json
import os
import subprocess
import sys
import time

OUT = sys.argv[1]
ISSUER = "https://accounts.example.com"
EMAIL = "alice@example.com"
SIMPLE = "application/vnd.dev.cosign.simplesigning.v1+json"
BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
INTOTO = "application/vnd.in-toto+json"


def run(*args, stdin=None):
    return subprocess.run(args, input=stdin, check=True, capture_output=True).stdout


def path(*parts):
    p = os.path.join(OUT, *parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def write(p, data):
    with open(p, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    return p


def b64(data):
    return base64.b64encode(data).decode()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def canonical(obj):
    """JSON as Rekor stores bodies and RFC 8785 needs here: sorted keys, no spaces."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# ----------------------------------------------------------------------------------- openssl

def genkey(name, kind):
    key = path("keys", name + ".key")
    opts = {
        "p256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "p384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
        "rsa": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        "ed25519": ["-algorithm", "ED25519"],
    }[kind]
    run("openssl", "genpkey", *opts, "-out", key)
    run("openssl", "pkey", "-in", key, "-pubout", "-out", path("keys", name + ".pub"))
    return key


def pub_der(key):
    return run("openssl", "pkey", "-in", key, "-pubout", "-outform", "DER")


def sign(key, data, md="sha256", pss=False, ed25519=False):
    msg = write(path("tmp", "msg"), data)
    out = path("tmp", "sig")
    if ed25519:
        run("openssl", "pkeyutl", "-sign", "-inkey", key, "-rawin", "-in", msg, "-out", out)
    else:
        extra = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"] if pss else []
        run("openssl", "dgst", "-" + md, "-sign", key, *extra, "-out", out, msg)
    with open(out, "rb") as f:
        return f.read()


EXTENSIONS = """
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[inter]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[leaf]
keyUsage = critical, digitalSignature
extendedKeyUsage = codeSigning
subjectAltName = critical, email:{email}
authorityKeyIdentifier = keyid
1.3.6.1.4.1.57264.1.1 = DER:{issuer_hex}
1.3.6.1.4.1.57264.1.8 = ASN1:UTF8String:{issuer}
"""


def certificates():
    cnf = write(path("keys", "openssl.cnf"),
                EXTENSIONS.format(email=EMAIL, issuer=ISSUER, issuer_hex=ISSUER.encode().hex()))
    root_key, inter_key = genkey("fulcio-root", "p384"), genkey("fulcio-intermediate", "p384")
    leaf_key = genkey("fulcio-leaf", "p256")
    root = path("keys", "fulcio-root.pem")
    run("openssl", "req", "-x509", "-new", "-key", root_key, "-subj", "/O=airfactory-test/CN=fulcio-root",
        "-days", "3650", "-sha384", "-config", cnf, "-extensions", "ca", "-out", root)
    csr = path("tmp", "inter.csr")
    run("openssl", "req", "-new", "-key", inter_key, "-subj", "/O=airfactory-test/CN=fulcio-intermediate",
        "-config", cnf, "-out", csr)
    inter = path("keys", "fulcio-intermediate.pem")
    run("openssl", "x509", "-req", "-in", csr, "-CA", root, "-CAkey", root_key, "-set_serial", "2",
        "-days", "3650", "-sha384", "-extfile", cnf, "-extensions", "inter", "-out", inter)
    csr = path("tmp", "leaf.csr")
    run("openssl", "req", "-new", "-key", leaf_key, "-subj", "/O=sigstore.dev/CN=sigstore", "-config", cnf,
        "-out", csr)
    leaf = path("keys", "fulcio-leaf.pem")
    # One day: the signing time below is a minute in; the "expired" case is two days in.
    run("openssl", "x509", "-req", "-in", csr, "-CA", inter, "-CAkey", inter_key, "-set_serial", "3",
        "-days", "1", "-sha384", "-extfile", cnf, "-extensions", "leaf", "-out", leaf)
    return leaf_key, leaf, inter, root


def der_of_cert(pem):
    return run("openssl", "x509", "-in", pem, "-outform", "DER")


# ------------------------------------------------------------------------------------- Rekor

def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n):
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def mth(leaves):
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def audit_path(m, leaves):
    if len(leaves) == 1:
        return []
    k = split(len(leaves))
    if m < k:
        return audit_path(m, leaves[:k]) + [mth(leaves[k:])]
    return audit_path(m - k, leaves[k:]) + [mth(leaves[:k])]


class Log:
    def __init__(self):
        self.key = genkey("rekor", "p256")
        self.der = pub_der(self.key)
        self.log_id = hashlib.sha256(self.der).digest()
        self.index = 4242

    def entry(self, body, integrated_time, proof=True, break_proof=False):
        """A tlog entry for body: SET over the canonical payload, proof in a 10-leaf tree."""
        self.index += 1
        body_b64 = b64(body)
        payload = canonical({"body": body_b64, "integratedTime": integrated_time,
                             "logID": self.log_id.hex(), "logIndex": self.index})
        entry = {"body": body, "integratedTime": integrated_time, "logIndex": self.index,
                 "set": sign(self.key, payload)}
        if proof:
            leaves = [leaf_hash(("unrelated entry %d" % i).encode()) for i in range(10)]
            leaves[7] = leaf_hash(body)
            root = mth(leaves)
            hashes = audit_path(7, leaves)
            if break_proof:
                hashes[1] = bytes([hashes[1][0] ^ 1]) + hashes[1][1:]
            note = "rekor.test - 99\n10\n%s\n" % b64(root)
            sig = sign(self.key, note.encode())
            checkpoint = note + "\n\u2014 rekor.test %s\n" % b64(self.log_id[:4] + sig)
            entry["proof"] = {"logIndex": "7", "rootHash": b64(root), "treeSize": "10",
                              "hashes": [b64(h) for h in hashes], "checkpoint": {"envelope": checkpoint}}
        return entry

    def bundle_entry(self, e, kind, version):
        out = {"logIndex": str(e["logIndex"]), "logId": {"keyId": b64(self.log_id)},
               "kindVersion": {"kind": kind, "version": version}, "integratedTime": str(e["integratedTime"]),
               "inclusionPromise": {"signedEntryTimestamp": b64(e["set"])}}
        if "proof" in e:
            out["inclusionProof"] = e["proof"]
        out["canonicalizedBody"] = b64(e["body"])
        return out

    def cosign_bundle(self, e):
        return json.dumps({"SignedEntryTimestamp": b64(e["set"]),
                           "Payload": {"body": b64(e["body"]), "integratedTime": e["integratedTime"],
                                       "logIndex": e["logIndex"], "logID": self.log_id.hex()}})


TSA_EXTENSIONS = """
[tsa_leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping
authorityKeyIdentifier = keyid
[tsa]
default_tsa = tsa1
[tsa1]
serial = {serial}
crypto_device = builtin
signer_cert = {cert}
signer_key = {key}
signer_digest = sha256
default_policy = 1.3.6.1.4.1.57264.2
digests = sha256
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


class TSA:
    """A timestamp authority: self-signed root, leaf with the critical timeStamping usage; its
    responses come from `openssl ts -reply` (RFC 3161 TimeStampResp, ESSCertIDv2)."""

    def __init__(self):
        self.root_key, self.key = genkey("tsa-root", "p384"), genkey("tsa", "p256")
        self.root = path("keys", "tsa-root.pem")
        self.leaf = path("keys", "tsa.pem")
        write(path("keys", "tsa.serial"), "01\n")
        self.cnf = write(path("keys", "tsa.cnf"), TSA_EXTENSIONS.format(
            serial=path("keys", "tsa.serial"), cert=self.leaf, key=self.key) + "[req]\ndistinguished_name = dn\n[dn]\n")
        run("openssl", "req", "-x509", "-new", "-key", self.root_key, "-subj", "/O=airfactory-test/CN=tsa-root",
            "-days", "3650", "-sha384", "-out", self.root)
        csr = path("tmp", "tsa.csr")
        run("openssl", "req", "-new", "-key", self.key, "-subj", "/O=airfactory-test/CN=tsa", "-config", self.cnf,
            "-out", csr)
        run("openssl", "x509", "-req", "-in", csr, "-CA", self.root, "-CAkey", self.root_key, "-set_serial", "7",
            "-days", "3650", "-sha384", "-extfile", self.cnf, "-extensions", "tsa_leaf", "-out", self.leaf)

    def stamp(self, data):
        """DER TimeStampResp over data (SHA-256 imprint), stamped now."""
        msg = write(path("tmp", "ts-data"), data)
        query, reply = path("tmp", "ts.tsq"), path("tmp", "ts.tsr")
        run("openssl", "ts", "-query", "-data", msg, "-sha256", "-cert", "-no_nonce", "-out", query)
        run("openssl", "ts", "-reply", "-config", self.cnf, "-section", "tsa1", "-queryfile", query, "-out", reply)
        with open(reply, "rb") as f:
            return f.read()


V2_HOST = "log2026-1.rekor-v2.test"


class LogV2:
    """A Rekor v2 (rekor-tiles) log: Ed25519 key, no SETs, checkpoints as C2SP signed notes named
    after the log's host, whose key ID is SHA-256(name || 0x0A || 0x01 || key) (c2sp.org/signed-note)."""

    def __init__(self):
        self.key = genkey("rekor-v2", "ed25519")
        self.der = pub_der(self.key)
        raw = self.der[-32:]
        self.log_id = hashlib.sha256(V2_HOST.encode() + b"\n\x01" + raw).digest()

    def checkpoint(self, size, root, name=V2_HOST, hint=None):
        note = "%s\n%d\n%s\n" % (name, size, b64(root))
        sig = sign(self.key, note.encode(), ed25519=True)
        return note + "\n\u2014 %s %s\n" % (name, b64((hint or self.log_id[:4]) + sig))

    def bundle_entry(self, body, kind, hint=None, proof=True):
        leaves = [leaf_hash(("unrelated v2 entry %d" % i).encode()) for i in range(10)]
        leaves[6] = leaf_hash(body)
        root = mth(leaves)
        out = {"logIndex": "6", "logId": {"keyId": b64(self.log_id)},
               "kindVersion": {"kind": kind, "version": "0.0.2"}}
        if proof:
            out["inclusionProof"] = {"logIndex": "6", "rootHash": b64(root), "treeSize": "10",
                                     "hashes": [b64(h) for h in audit_path(6, leaves)],
                                     "checkpoint": {"envelope": self.checkpoint(10, root, hint=hint)}}
        out["canonicalizedBody"] = b64(body)
        return out


def v2_signature(sig, cert_der):
    return {"content": b64(sig), "verifier": {"keyDetails": "PKIX_ECDSA_P256_SHA_256",
                                              "x509Certificate": {"rawBytes": b64(cert_der)}}}


def trusted_root(log, inter, root, log_v2=None, tsa=None):
    doc = {
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [{"baseUrl": "https://rekor.test", "hashAlgorithm": "SHA2_256",
                   "publicKey": {"rawBytes": b64(log.der), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                                 "validFor": {"start": "2020-01-01T00:00:00Z"}},
                   "logId": {"keyId": b64(log.log_id)}}],
        "certificateAuthorities": [{"subject": {"organization": "airfactory-test", "commonName": "fulcio"},
                                    "uri": "https://fulcio.test",
                                    "certChain": {"certificates": [{"rawBytes": b64(der_of_cert(inter))},
                                                                   {"rawBytes": b64(der_of_cert(root))}]},
                                    "validFor": {"start": "2020-01-01T00:00:00Z"}}],
        "ctlogs": [], "timestampAuthorities": [],
    }
    if log_v2:
        doc["tlogs"].append({"baseUrl": "https://" + V2_HOST, "hashAlgorithm": "SHA2_256",
                             "publicKey": {"rawBytes": b64(log_v2.der), "keyDetails": "PKIX_ED25519",
                                           "validFor": {"start": "2020-01-01T00:00:00Z", "end": None}},
                             "logId": {"keyId": b64(log_v2.log_id)}})
    if tsa:
        doc["timestampAuthorities"].append({"subject": {"organization": "airfactory-test", "commonName": "tsa"},
                                            "uri": "https://tsa.test/api/v1/timestamp",
                                            "certChain": {"certificates": [{"rawBytes": b64(der_of_cert(tsa.leaf))},
                                                                           {"rawBytes": b64(der_of_cert(tsa.root))}]},
                                            "validFor": {"start": "2020-01-01T00:00:00Z"}})
    return write(path("trusted_root.json"), json.dumps(doc, indent=2))


# ---------------------------------------------------------------------------------- OCI layout

class Layout:
    def __init__(self, name):
        self.dir = os.path.join(OUT, "layouts", name)
        os.makedirs(os.path.join(self.dir, "blobs", "sha256"), exist_ok=True)
        write(os.path.join(self.dir, "oci-layout"), '{"imageLayoutVersion": "1.0.0"}')
        self.index = []

    def blob(self, data):
        data = data if isinstance(data, bytes) else data.encode()
        digest = "sha256:" + sha256(data)
        write(os.path.join(self.dir, "blobs", "sha256", digest[7:]), data)
        return digest, len(data)

    def add(self, data, ref=None, artifact_type=None):
        digest, size = self.blob(data)
        d = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size}
        if artifact_type:
            d["artifactType"] = artifact_type
        if ref:
            d["annotations"] = {"org.opencontainers.image.ref.name": ref}
        self.index.append(d)
        return digest

    def close(self):
        write(os.path.join(self.dir, "index.json"),
              json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                          "manifests": self.index}))


EMPTY = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


def image(layout, label):
    config, csize = layout.blob('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}')
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config,
                                      "size": csize},
                           "layers": [], "annotations": {"org.opencontainers.image.title": label}})
    return layout.add(manifest, ref="image")


def simple_payload(digest):
    # Go's json.Marshal of cosign's payload: struct field order, no spaces, optional null.
    return ('{"critical":{"identity":{"docker-reference":"registry.test/siderolabs/installer"},'
            '"image":{"docker-manifest-digest":"%s"},"type":"cosign container image signature"},'
            '"optional":null}' % digest).encode()


def publish_legacy(layout, digest, payload, annotations):
    pdigest, psize = layout.blob(payload)
    config, csize = layout.blob(json.dumps({"architecture": "", "os": "", "config": {},
                                            "rootfs": {"type": "layers", "diff_ids": [pdigest]}}))
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": csize,
                                      "digest": config},
                           "layers": [{"mediaType": SIMPLE, "size": psize, "digest": pdigest,
                                       "annotations": annotations}]})
    layout.add(manifest, ref="sha256-%s.sig" % digest[7:])


def publish_bundle(layout, digest, bundle):
    bdigest, bsize = layout.blob(json.dumps(bundle))
    _, esize = layout.blob("{}")
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "artifactType": BUNDLE_TYPE,
                           "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": esize,
                                      "digest": EMPTY},
                           "layers": [{"mediaType": BUNDLE_TYPE, "size": bsize, "digest": bdigest}],
                           "annotations": {"dev.sigstore.bundle.content": "dsse-envelope",
                                           "dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1"},
                           "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1,
                                       "digest": digest}})
    layout.add(manifest, artifact_type=BUNDLE_TYPE)


def statement(digest):
    return json.dumps({"_type": "https://in-toto.io/Statement/v1",
                       "subject": [{"digest": {"sha256": digest[7:]}, "annotations": {}}],
                       "predicateType": "https://sigstore.dev/cosign/sign/v1", "predicate": {}},
                      separators=(",", ":")).encode()


def pae(payload_type, payload):
    return b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type.encode(), len(payload), payload)


# ---------------------------------------------------------------------------------------- cases

def main():
    os.makedirs(OUT, exist_ok=True)
    cases, node = [], []
    now = int(time.time())
    signed_at = now + 60
    leaf_key, leaf, inter, root = certificates()
    with open(leaf, "rb") as f:
        leaf_pem = f.read()
    chain_pem = open(inter, "rb").read() + open(root, "rb").read()
    log = Log()
    log_v2 = LogV2()
    tsa = TSA()
    root_json = trusted_root(log, inter, root, log_v2, tsa)
    keyless_args = ["--issuer", ISSUER, "--identity", "^alice@example\\.com$", "--trusted-root", root_json]

    def case(name, layout, digest, args, expect, method="", message=""):
        cases.append({"name": name, "layout": layout.dir, "digest": digest, "args": args, "expect": expect,
                      "method": method, "message": message})

    # --- key-based legacy signatures, one per key type cosign supports
    keys = {"p256": genkey("cosign-p256", "p256"), "p384": genkey("cosign-p384", "p384"),
            "rsa": genkey("cosign-rsa", "rsa"), "ed25519": genkey("cosign-ed25519", "ed25519")}
    variants = [("key-p256", "p256", {}), ("key-p384", "p384", {"md": "sha384"}), ("key-rsa", "rsa", {}),
                ("key-rsa-pss", "rsa", {"pss": True}), ("key-ed25519", "ed25519", {"ed25519": True})]
    for name, kind, opts in variants:
        lay = Layout(name)
        digest = image(lay, name)
        payload = simple_payload(digest)
        sig = sign(keys[kind], payload, **opts)
        publish_legacy(lay, digest, payload, {"dev.cosignproject.cosign/signature": b64(sig)})
        lay.close()
        case(name, lay, digest, ["--key", path("keys", "cosign-%s.pub" % kind)], "ok", "cosign-key")
        if name in ("key-p256", "key-p384", "key-rsa", "key-rsa-pss", "key-ed25519"):
            # Known divergence: sigstore-js (like cosign's default RSA verifier) checks an RSA key's
            # signatures as PKCS#1 v1.5 only; airfactory also accepts RSA-PSS (documented).
            node.append({"name": name, "mode": "key-message", "payload": b64(payload), "signature": b64(sig),
                         "key": path("keys", "cosign-%s.pub" % kind), "hash": opts.get("md", "sha256"),
                         "ed25519": opts.get("ed25519", False),
                         "expect": "SIGNATURE_ERROR" if name == "key-rsa-pss" else "VALID"})

    # wrong key, tampered payload, replayed signature of another image
    lay = Layout("key-wrong-key")
    digest = image(lay, "wrong")
    payload = simple_payload(digest)
    sig = sign(keys["p256"], payload)
    publish_legacy(lay, digest, payload, {"dev.cosignproject.cosign/signature": b64(sig)})
    lay.close()
    case("key-wrong-key", lay, digest, ["--key", path("keys", "cosign-p384.pub")], "fail",
         message="does not verify over payload sha256:" + sha256(payload))
    lay = Layout("key-tampered")
    digest = image(lay, "tampered")
    payload = simple_payload(digest)
    sig = sign(keys["p256"], payload)
    tampered = payload.replace(b"registry.test", b"registry.evil")
    publish_legacy(lay, digest, tampered, {"dev.cosignproject.cosign/signature": b64(sig)})
    lay.close()
    case("key-tampered", lay, digest, ["--key", path("keys", "cosign-p256.pub")], "fail",
         message="does not verify over payload")
    node.append({"name": "key-tampered", "mode": "key-message", "payload": b64(tampered), "signature": b64(sig),
                 "key": path("keys", "cosign-p256.pub"), "hash": "sha256", "expect": "SIGNATURE_ERROR"})
    lay = Layout("key-other-digest")
    digest = image(lay, "target")
    other = image(lay, "other")
    payload = simple_payload(other)
    publish_legacy(lay, digest, payload, {"dev.cosignproject.cosign/signature": b64(sign(keys["p256"], payload))})
    lay.close()
    case("key-other-digest", lay, digest, ["--key", path("keys", "cosign-p256.pub")], "fail",
         message="payload signs %s, not %s" % (other, digest))

    # --- keyless legacy: certificate, chain and Rekor bundle annotations (hashedrekord)
    lay = Layout("keyless-legacy")
    digest = image(lay, "keyless-legacy")
    payload = simple_payload(digest)
    sig = sign(leaf_key, payload)
    body = canonical({"apiVersion": "0.0.1", "kind": "hashedrekord",
                      "spec": {"data": {"hash": {"algorithm": "sha256", "value": sha256(payload)}},
                               "signature": {"content": b64(sig), "publicKey": {"content": b64(leaf_pem)}}}})
    entry = log.entry(body, signed_at, proof=False)
    publish_legacy(lay, digest, payload, {"dev.cosignproject.cosign/signature": b64(sig),
                                          "dev.sigstore.cosign/certificate": leaf_pem.decode(),
                                          "dev.sigstore.cosign/chain": chain_pem.decode(),
                                          "dev.sigstore.cosign/bundle": log.cosign_bundle(entry)})
    lay.close()
    case("keyless-legacy", lay, digest, keyless_args, "ok", "cosign-keyless")
    # the same material as a Sigstore messageSignature bundle, for @sigstore/verify (v0.1: the one
    # bundle version that needs only the SET, as the legacy annotation carries no inclusion proof)
    node.append({"name": "keyless-legacy", "mode": "keyless", "artifact": b64(payload), "expect": "VALID",
                 "bundle": {"mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
                            "verificationMaterial": {"x509CertificateChain": {
                                                         "certificates": [{"rawBytes": b64(der_of_cert(leaf))}]},
                                                     "tlogEntries": [log.bundle_entry(entry, "hashedrekord", "0.0.1")],
                                                     "timestampVerificationData": {}},
                            "messageSignature": {"messageDigest": {"algorithm": "SHA2_256",
                                                                   "digest": b64(hashlib.sha256(payload).digest())},
                                                 "signature": b64(sig)}}})

    # --- keyless Sigstore bundles (DSSE in-toto), good and bad
    def keyless_bundle(name, at=signed_at, break_proof=False, label=None):
        lay = Layout(name)
        digest = image(lay, label or name)
        st = statement(digest)
        sig = sign(leaf_key, pae(INTOTO, st))
        envelope = {"payload": b64(st), "payloadType": INTOTO, "signatures": [{"sig": b64(sig)}]}
        body = canonical({"apiVersion": "0.0.1", "kind": "dsse",
                          "spec": {"envelopeHash": {"algorithm": "sha256", "value": sha256(canonical(envelope))},
                                   "payloadHash": {"algorithm": "sha256", "value": sha256(st)},
                                   "signatures": [{"signature": b64(sig), "verifier": b64(leaf_pem)}]}})
        entry = log.entry(body, at, break_proof=break_proof)
        bundle = {"mediaType": BUNDLE_TYPE,
                  "verificationMaterial": {"certificate": {"rawBytes": b64(der_of_cert(leaf))},
                                           "tlogEntries": [log.bundle_entry(entry, "dsse", "0.0.1")],
                                           "timestampVerificationData": {}},
                  "dsseEnvelope": envelope}
        publish_bundle(lay, digest, bundle)
        lay.close()
        write(path("bundles", name + ".sigstore.json"), json.dumps(bundle))
        return lay, digest, bundle

    lay, digest, bundle = keyless_bundle("keyless-bundle")
    case("keyless-bundle", lay, digest, keyless_args, "ok", "sigstore-bundle")
    node.append({"name": "keyless-bundle", "mode": "keyless", "bundle": bundle, "expect": "VALID"})
    case("keyless-bundle-wrong-identity", lay, digest,
         ["--issuer", ISSUER, "--identity", "^bob@example\\.com$", "--trusted-root", root_json], "fail",
         message="certificate SAN alice@example.com does not match identity regexp")
    node.append({"name": "keyless-bundle-wrong-identity", "mode": "keyless", "bundle": bundle,
                 "san": "bob@example.com", "expect": "UNTRUSTED_SIGNER_ERROR"})
    case("keyless-bundle-wrong-issuer", lay, digest,
         ["--issuer", "https://accounts.google.com", "--identity", "alice", "--trusted-root", root_json], "fail",
         message="certificate issuer %s does not match https://accounts.google.com" % ISSUER)
    lay, digest, bundle = keyless_bundle("keyless-bundle-expired", at=now + 2 * 86400)
    case("keyless-bundle-expired", lay, digest, keyless_args, "fail", message="certificate has expired")
    node.append({"name": "keyless-bundle-expired", "mode": "keyless", "bundle": bundle,
                 "expect": "CERTIFICATE_ERROR"})
    lay, digest, bundle = keyless_bundle("keyless-bundle-bad-proof", break_proof=True)
    case("keyless-bundle-bad-proof", lay, digest, keyless_args, "fail",
         message="does not lead to its root hash")
    node.append({"name": "keyless-bundle-bad-proof", "mode": "keyless", "bundle": bundle,
                 "expect": "TLOG_INCLUSION_PROOF_ERROR"})

    # --- Rekor v2 (Ed25519 log, C2SP checkpoints, no SET) with RFC 3161 timestamps from the test TSA
    def v2_bundle(name, kind="hashedrekord", stamp=True, stamp_over=None, hint=None, proof=True,
                  media_type=BUNDLE_TYPE):
        lay = Layout(name)
        digest = image(lay, name)
        st = statement(digest)
        signed = pae(INTOTO, st)
        sig = sign(leaf_key, signed)
        cert_der = der_of_cert(leaf)
        if kind == "hashedrekord":  # cosign v3 on Rekor v2: the envelope logged as hashedrekord over its PAE
            spec = {"hashedRekordV002": {"data": {"algorithm": "SHA2_256",
                                                  "digest": b64(hashlib.sha256(signed).digest())},
                                         "signature": v2_signature(sig, cert_der)}}
        else:
            spec = {"dsseV002": {"payloadHash": {"algorithm": "SHA2_256", "digest": b64(hashlib.sha256(st).digest())},
                                 "signatures": [v2_signature(sig, cert_der)]}}
        body = canonical({"apiVersion": "0.0.2", "kind": kind, "spec": spec})
        material = {"certificate": {"rawBytes": b64(cert_der)},
                    "tlogEntries": [log_v2.bundle_entry(body, kind, hint=hint, proof=proof)],
                    "timestampVerificationData": {}}
        if stamp:
            material["timestampVerificationData"] = {
                "rfc3161Timestamps": [{"signedTimestamp": b64(tsa.stamp(stamp_over or sig))}]}
        bundle = {"mediaType": media_type, "verificationMaterial": material,
                  "dsseEnvelope": {"payload": b64(st), "payloadType": INTOTO, "signatures": [{"sig": b64(sig)}]}}
        publish_bundle(lay, digest, bundle)
        lay.close()
        write(path("bundles", name + ".sigstore.json"), json.dumps(bundle))
        return lay, digest, bundle

    lay, digest, bundle = v2_bundle("keyless-v2-hashedrekord")
    case("keyless-v2-hashedrekord", lay, digest, keyless_args, "ok", "sigstore-bundle")
    # Known divergence: @sigstore/verify 3.1.1 (the last on Node 20) compares a hashedrekord 0.0.2
    # digest with SHA-256 of the DSSE payload; sigstore-go, cosign v3 and @sigstore/verify 4.x log
    # and check the PAE's hash, as airfactory does.
    node.append({"name": "keyless-v2-hashedrekord", "mode": "keyless", "bundle": bundle,
                 "expect": "TLOG_BODY_ERROR"})
    lay, digest, bundle = v2_bundle("keyless-v2-dsse", kind="dsse")
    case("keyless-v2-dsse", lay, digest, keyless_args, "ok", "sigstore-bundle")
    node.append({"name": "keyless-v2-dsse", "mode": "keyless", "bundle": bundle, "expect": "VALID"})
    lay, digest, bundle = v2_bundle("keyless-v2-no-timestamp", kind="dsse", stamp=False)
    case("keyless-v2-no-timestamp", lay, digest, keyless_args, "fail", message="no trusted signing time")
    node.append({"name": "keyless-v2-no-timestamp", "mode": "keyless", "bundle": bundle,
                 "expect": "TIMESTAMP_ERROR"})
    lay, digest, bundle = v2_bundle("keyless-v2-bad-timestamp", kind="dsse", stamp_over=b"not the signature")
    case("keyless-v2-bad-timestamp", lay, digest, keyless_args, "fail", message="message imprint mismatch")
    node.append({"name": "keyless-v2-bad-timestamp", "mode": "keyless", "bundle": bundle,
                 "expect": "TIMESTAMP_ERROR"})
    # the checkpoint's key hint computed the Rekor v1 way (SHA-256 of the SPKI), not C2SP's
    lay, digest, bundle = v2_bundle("keyless-v2-v1-hint", kind="dsse",
                                    hint=hashlib.sha256(log_v2.der).digest()[:4])
    case("keyless-v2-v1-hint", lay, digest, keyless_args, "fail", message="checkpoint is not signed by the log key")
    node.append({"name": "keyless-v2-v1-hint", "mode": "keyless", "bundle": bundle,
                 "expect": "TLOG_INCLUSION_PROOF_ERROR"})
    lay, digest, bundle = v2_bundle("keyless-v2-no-proof", kind="dsse", proof=False)
    case("keyless-v2-no-proof", lay, digest, keyless_args, "fail", message="needs an inclusionProof")
    # the same Rekor v2 material as a messageSignature bundle: sigstore-js' own hashedrekord 0.0.2 path
    payload = b"airfactory rekor v2 message"
    msig = sign(leaf_key, payload)
    mbody = canonical({"apiVersion": "0.0.2", "kind": "hashedrekord",
                       "spec": {"hashedRekordV002": {"data": {"algorithm": "SHA2_256",
                                                              "digest": b64(hashlib.sha256(payload).digest())},
                                                     "signature": v2_signature(msig, der_of_cert(leaf))}}})
    node.append({"name": "keyless-v2-message", "mode": "keyless", "artifact": b64(payload), "expect": "VALID",
                 "bundle": {"mediaType": BUNDLE_TYPE,
                            "verificationMaterial": {"certificate": {"rawBytes": b64(der_of_cert(leaf))},
                                                     "tlogEntries": [log_v2.bundle_entry(mbody, "hashedrekord")],
                                                     "timestampVerificationData": {"rfc3161Timestamps": [
                                                         {"signedTimestamp": b64(tsa.stamp(msig))}]}},
                            "messageSignature": {"messageDigest": {"algorithm": "SHA2_256",
                                                                   "digest": b64(hashlib.sha256(payload).digest())},
                                                 "signature": b64(msig)}}})

    # --- a key-based DSSE bundle (Image Factory's key signer shape: publicKey hint)
    lay = Layout("key-bundle")
    digest = image(lay, "key-bundle")
    st = statement(digest)
    sig = sign(keys["p256"], pae(INTOTO, st))
    hint = b64(hashlib.sha256(pub_der(keys["p256"])).digest())
    bundle = {"mediaType": BUNDLE_TYPE,
              "verificationMaterial": {"publicKey": {"hint": hint}, "tlogEntries": [],
                                       "timestampVerificationData": {}},
              "dsseEnvelope": {"payload": b64(st), "payloadType": INTOTO, "signatures": [{"sig": b64(sig)}]}}
    publish_bundle(lay, digest, bundle)
    lay.close()
    case("key-bundle", lay, digest, ["--key", path("keys", "cosign-p256.pub")], "ok", "sigstore-bundle")
    node.append({"name": "key-bundle", "mode": "key-bundle", "bundle": bundle, "hint": hint,
                 "key": path("keys", "cosign-p256.pub"), "expect": "VALID"})

    # --- nothing signed
    lay = Layout("unsigned")
    digest = image(lay, "unsigned")
    lay.close()
    case("unsigned", lay, digest, ["--key", path("keys", "cosign-p256.pub")], "fail",
         message="no signature found: neither a Sigstore bundle referrer nor the tag sha256-%s.sig" % digest[7:])
    case("unsigned-insecure", lay, digest, ["--key", path("keys", "cosign-p256.pub"), "--insecure"], "ok",
         "insecure")

    for n in node:
        n.setdefault("trusted_root", root_json)
        n.setdefault("san", EMAIL)
        n.setdefault("issuer", ISSUER)
        write(path("node", n["name"] + ".json"), json.dumps(n))
    write(path("cases.json"), json.dumps(cases, indent=1))


main()
