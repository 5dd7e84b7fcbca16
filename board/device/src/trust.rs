//! Whom the device trusts: Ed25519 public keys, and the check every bundle passes before the daemon runs it or
//! `skelact install` writes it to a slot.
//!
//! A bundle's signature section names a public key and a signer; it is worth nothing until the signature verifies
//! (over the bundle's content digest, `docs/bundle.md`) under a key the configuration lists. Unsigned bundles run
//! only where the configuration says `allow_unsigned` (development).

use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, VerifyingKey};
use skelact_runtime::bundle::{key_fingerprint, Bundle, PUBLIC_KEY_LEN};

pub use skelact_runtime::bundle::PUBLIC_KEY_FILE_HEADER as PUBLIC_KEY_HEADER;

/// A key the device trusts, and where it came from (for messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedKey {
    pub key: [u8; PUBLIC_KEY_LEN],
    pub source: String,
}

impl TrustedKey {
    /// A key from the configuration: 64 hex digits, or the path of a public key file.
    pub fn parse(entry: &str, base: &Path) -> Result<Self, TrustError> {
        if let Ok(key) = decode_key(entry) {
            return Ok(TrustedKey { key, source: "the configuration".into() });
        }
        let path = base.join(entry);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| TrustError::KeyFile { path: path.clone(), reason: e.to_string() })?;
        let key = read_public_key(&text).map_err(|reason| TrustError::KeyFile { path: path.clone(), reason })?;
        Ok(TrustedKey { key, source: path.display().to_string() })
    }

    /// The key's short name in messages.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.key)
    }
}

/// The key of a public key file: the header line, then 64 hex digits (comment lines starting `#` are skipped).
pub fn read_public_key(text: &str) -> Result<[u8; PUBLIC_KEY_LEN], String> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
    if lines.next() != Some(PUBLIC_KEY_HEADER) {
        return Err(format!("not a public key file (its first line must be {PUBLIC_KEY_HEADER:?})"));
    }
    decode_key(lines.next().unwrap_or(""))
}

fn decode_key(text: &str) -> Result<[u8; PUBLIC_KEY_LEN], String> {
    let mut key = [0u8; PUBLIC_KEY_LEN];
    hex::decode_to_slice(text.trim(), &mut key).map_err(|e| format!("not a 32-byte key in hex: {e}"))?;
    Ok(key)
}

/// The first 8 bytes of the key's SHA-256 in hex, as `skelact info` and the logs show keys.
pub fn fingerprint(key: &[u8; PUBLIC_KEY_LEN]) -> String {
    String::from_utf8_lossy(&key_fingerprint(key)).into_owned()
}

/// What the device accepts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustPolicy {
    pub keys: Vec<TrustedKey>,
    /// Run bundles with no signature at all (development). A bundle whose signature is present but fails is
    /// refused even so.
    pub allow_unsigned: bool,
}

/// Who signed a bundle the policy accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signer {
    /// Signed with a trusted key; `name` is the signer name inside the bundle, `fingerprint` the key's.
    Trusted { name: String, fingerprint: String },
    /// Unsigned, accepted because the policy allows unsigned bundles.
    Unsigned,
}

impl std::fmt::Display for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Signer::Trusted { name, fingerprint } => write!(f, "{name} (key {fingerprint}, trusted)"),
            Signer::Unsigned => f.write_str("unsigned (allowed by allow_unsigned)"),
        }
    }
}

/// Why a bundle is not trusted. Each message says what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("the bundle is not signed, and unsigned bundles are not allowed (sign it with `cargo xtask sign`, or set allow_unsigned for development)")]
    Unsigned,
    #[error("the bundle's signature does not verify under the key it names ({fingerprint}, signer {signer:?}): it was altered after signing or signed wrongly")]
    BadSignature { signer: String, fingerprint: String },
    #[error("the bundle is signed by {signer:?} with key {fingerprint}, which this device does not trust (trusted: {trusted})")]
    UntrustedKey { signer: String, fingerprint: String, trusted: String },
    #[error("trusted key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
}

impl TrustPolicy {
    /// Checks `bundle` against the policy. The signature is verified before the key is looked up, so a bundle
    /// altered after signing says so whoever signed it.
    pub fn check(&self, bundle: &Bundle<'_>) -> Result<Signer, TrustError> {
        let Some(section) = bundle.signature() else {
            return if self.allow_unsigned { Ok(Signer::Unsigned) } else { Err(TrustError::Unsigned) };
        };
        let signer = section.signer.to_string();
        let fingerprint = fingerprint(&section.public_key);
        if !verifies(&section.public_key, &section.signature, &section.message(&bundle.content_digest())) {
            return Err(TrustError::BadSignature { signer, fingerprint });
        }
        if !self.keys.iter().any(|k| k.key == section.public_key) {
            let trusted = if self.keys.is_empty() {
                "none configured".to_string()
            } else {
                self.keys.iter().map(TrustedKey::fingerprint).collect::<Vec<_>>().join(", ")
            };
            return Err(TrustError::UntrustedKey { signer, fingerprint, trusted });
        }
        Ok(Signer::Trusted { name: signer, fingerprint })
    }
}

/// Whether `signature` is a valid Ed25519 signature of `message` by `public_key` (strict verification: no
/// malleable or small-order forms).
pub fn verifies(public_key: &[u8; PUBLIC_KEY_LEN], signature: &[u8; 64], message: &[u8]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(public_key) else { return false };
    key.verify_strict(message, &Signature::from_bytes(signature)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer as _, SigningKey};
    use skelact_runtime::bundle::{sign, with_version};

    fn model_bundle() -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/zoo/stars-synthetic.skb");
        std::fs::read(path).unwrap()
    }

    fn signed_by(bytes: &[u8], key: &SigningKey, name: &str) -> Vec<u8> {
        sign(bytes, name, key.verifying_key().to_bytes(), |m| key.sign(m).to_bytes()).unwrap()
    }

    #[test]
    fn only_a_valid_signature_by_a_trusted_key_passes() {
        let fleet = SigningKey::from_bytes(&[1; 32]);
        let stranger = SigningKey::from_bytes(&[2; 32]);
        let bytes = with_version(&model_bundle(), 5).unwrap();
        let trusted = TrustedKey { key: fleet.verifying_key().to_bytes(), source: "test".into() };
        let policy = TrustPolicy { keys: vec![trusted.clone()], allow_unsigned: false };

        let good = signed_by(&bytes, &fleet, "fleet");
        let signer = policy.check(&Bundle::parse(&good).unwrap()).unwrap();
        assert_eq!(signer, Signer::Trusted { name: "fleet".into(), fingerprint: trusted.fingerprint() });

        let error = policy.check(&Bundle::parse(&signed_by(&bytes, &stranger, "stranger")).unwrap()).unwrap_err();
        assert!(matches!(&error, TrustError::UntrustedKey { signer, .. } if signer == "stranger"), "{error}");
        assert!(error.to_string().contains(&trusted.fingerprint()), "{error}");

        assert_eq!(policy.check(&Bundle::parse(&bytes).unwrap()), Err(TrustError::Unsigned));
        let dev = TrustPolicy { allow_unsigned: true, ..policy.clone() };
        assert_eq!(dev.check(&Bundle::parse(&bytes).unwrap()), Ok(Signer::Unsigned));

        // A signature made over other content (here: the same bundle at another version) does not verify, and
        // allowing unsigned bundles does not let a bad signature through.
        let other = signed_by(&with_version(&bytes, 4).unwrap(), &fleet, "fleet");
        let other_signature = Bundle::parse(&other).unwrap().signature().unwrap().to_bytes();
        let mut sections: Vec<(u32, Vec<u8>)> =
            Bundle::parse(&good).unwrap().sections().map(|s| (s.kind_code, s.payload.to_vec())).collect();
        sections.last_mut().unwrap().1 = other_signature;
        let refs: Vec<(u32, &[u8])> = sections.iter().map(|(k, p)| (*k, p.as_slice())).collect();
        let (major, minor) = Bundle::parse(&good).unwrap().format_version();
        let forged = skelact_runtime::bundle::assemble(major, minor, &refs);
        let error = dev.check(&Bundle::parse(&forged).unwrap()).unwrap_err();
        assert!(matches!(error, TrustError::BadSignature { .. }), "{error}");
    }

    #[test]
    fn a_byte_changed_in_any_section_of_a_signed_bundle_is_refused() {
        let fleet = SigningKey::from_bytes(&[1; 32]);
        let policy = TrustPolicy {
            keys: vec![TrustedKey { key: fleet.verifying_key().to_bytes(), source: "test".into() }],
            allow_unsigned: true,
        };
        let signed = signed_by(&with_version(&model_bundle(), 2).unwrap(), &fleet, "fleet");
        let sections: Vec<(u32, Vec<u8>)> =
            Bundle::parse(&signed).unwrap().sections().map(|s| (s.kind_code, s.payload.to_vec())).collect();
        let (major, minor) = Bundle::parse(&signed).unwrap().format_version();
        for index in 0..sections.len() {
            for at in [0, sections[index].1.len() / 2, sections[index].1.len() - 1] {
                let mut altered = sections.clone();
                altered[index].1[at] ^= 0x01;
                let refs: Vec<(u32, &[u8])> = altered.iter().map(|(k, p)| (*k, p.as_slice())).collect();
                // Resealed, so the SHA-256 trailer does not catch it: the signature (or the parse) must.
                let bytes = skelact_runtime::bundle::assemble(major, minor, &refs);
                let outcome = Bundle::parse(&bytes)
                    .map_err(|e| e.to_string())
                    .and_then(|b| policy.check(&b).map_err(|e| e.to_string()));
                let error = outcome.expect_err(&format!("section {index} byte {at} changed and accepted"));
                assert!(!error.is_empty());
            }
        }
        // Unaltered, it passes; and a flipped byte without resealing is caught by the checksum first.
        assert!(policy.check(&Bundle::parse(&signed).unwrap()).is_ok());
        let mut flipped = signed.clone();
        flipped[100] ^= 1;
        assert!(Bundle::parse(&flipped).is_err());
    }

    #[test]
    fn keys_come_from_hex_or_key_files_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_bytes(&[3; 32]).verifying_key().to_bytes();
        let text = format!("# fleet key\n{PUBLIC_KEY_HEADER}\n{}\n", hex::encode(key));
        std::fs::write(dir.path().join("fleet.pub"), text).unwrap();
        assert_eq!(TrustedKey::parse("fleet.pub", dir.path()).unwrap().key, key);
        assert_eq!(TrustedKey::parse(&hex::encode(key), dir.path()).unwrap().key, key);
        std::fs::write(dir.path().join("bad.pub"), "hello\n").unwrap();
        let error = TrustedKey::parse("bad.pub", dir.path()).unwrap_err().to_string();
        assert!(error.contains("bad.pub") && error.contains("not a public key file"), "{error}");
        let missing = TrustedKey::parse("missing.pub", dir.path()).unwrap_err().to_string();
        assert!(missing.contains("missing.pub"), "{missing}");
    }
}
