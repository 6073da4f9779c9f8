// verify_sigstore.cjs CASE.json… — the second, independent verifier: sigstore-js (@sigstore/verify,
// the library npm's provenance checks use) run over the vectors of verify_vectors.py, offline.
// Prints one line per case: "<name> VALID" or "<name> <error code> <message>".
//
// Modes:
//   keyless      bundle (DSSE or messageSignature+artifact) against trusted_root.json, with the
//                policy SAN + issuer; SCT checks only with "ctlog": 1 (the test CA has no CT log)
//   key-bundle   DSSE bundle with a publicKey hint, trust = that one key, no log
//   key-message  a cosign simple-signing payload + signature wrapped as a messageSignature bundle
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const { bundleFromJSON } = require('@sigstore/bundle');
const { TrustedRoot } = require('@sigstore/protobuf-specs');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');

const EMPTY_ROOT = { certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [] };

function spki(pemPath) {
  return crypto.createPublicKey(fs.readFileSync(pemPath, 'utf8')).export({ type: 'spki', format: 'der' });
}

function check(c) {
  switch (c.mode) {
    case 'keyless': {
      const root = TrustedRoot.fromJSON(JSON.parse(fs.readFileSync(c.trusted_root, 'utf8')));
      const verifier = new Verifier(toTrustMaterial(root),
        { ctlogThreshold: c.ctlog || 0, tlogThreshold: 1, timestampThreshold: 1 });
      const artifact = c.artifact ? Buffer.from(c.artifact, 'base64') : undefined;
      verifier.verify(toSignedEntity(bundleFromJSON(c.bundle), artifact),
        { subjectAlternativeName: c.san, extensions: { issuer: c.issuer } });
      return;
    }
    case 'key-bundle': {
      const trust = toTrustMaterial(EMPTY_ROOT, { [c.hint]: { rawBytes: spki(c.key) } });
      new Verifier(trust, { ctlogThreshold: 0, tlogThreshold: 0, timestampThreshold: 0 })
        .verify(toSignedEntity(bundleFromJSON(c.bundle)));
      return;
    }
    case 'key-message': {
      const payload = Buffer.from(c.payload, 'base64');
      if (c.ed25519) {
        // sigstore-js has no pure-Ed25519 message signatures (Sigstore uses Ed25519ph); node:crypto
        // (OpenSSL underneath, but not our code) is the second opinion here.
        if (!crypto.verify(null, payload, fs.readFileSync(c.key, 'utf8'), Buffer.from(c.signature, 'base64'))) {
          throw Object.assign(new Error('signature verification failed'), { code: 'SIGNATURE_ERROR' });
        }
        return;
      }
      const algorithm = { sha256: 'SHA2_256', sha384: 'SHA2_384', sha512: 'SHA2_512' }[c.hash];
      const bundle = bundleFromJSON({
        mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
        verificationMaterial: { publicKey: { hint: 'policy-key' }, tlogEntries: [],
                                timestampVerificationData: { rfc3161Timestamps: [] } },
        messageSignature: { messageDigest: { algorithm,
                                             digest: crypto.createHash(c.hash).update(payload).digest('base64') },
                            signature: c.signature },
      });
      const trust = toTrustMaterial(EMPTY_ROOT, { 'policy-key': { rawBytes: spki(c.key) } });
      new Verifier(trust, { ctlogThreshold: 0, tlogThreshold: 0, timestampThreshold: 0 })
        .verify(toSignedEntity(bundle, payload));
      return;
    }
    default:
      throw new Error(`unknown mode ${c.mode}`);
  }
}

for (const file of process.argv.slice(2)) {
  const c = JSON.parse(fs.readFileSync(file, 'utf8'));
  try {
    check(c);
    console.log(`${c.name} VALID`);
  } catch (e) {
    console.log(`${c.name} ${e.code || e.name} ${String(e.message).replace(/\s+/g, ' ')}`);
  }
}
