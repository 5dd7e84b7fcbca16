//! Who made a bundle, and what it should compute: the `Signature` and `SelfTest` sections of format 1.1
//! (`docs/bundle.md`, "Signatures, versions and self-tests").
//!
//! The runtime only lays these sections out and computes what is signed; the cryptography (Ed25519 verification
//! on the device, signing on the desktop) lives with the callers, so this no_std core needs no curve arithmetic.

use sha2::{Digest, Sha256};

use super::container::Section;
use super::error::BundleError;
use super::SectionKind;

/// The one signature algorithm of format 1.1.
pub const ED25519: u32 = 1;
/// Bytes of an Ed25519 public key and of a signature.
pub const PUBLIC_KEY_LEN: usize = 32;
pub const SIGNATURE_LEN: usize = 64;
/// Longest signer name, in bytes of UTF-8.
pub const MAX_SIGNER_LEN: usize = 64;
/// Bytes before the signer name: algorithm, name length, public key, signature.
pub const SIGNATURE_FIXED_LEN: usize = 8 + PUBLIC_KEY_LEN + SIGNATURE_LEN;

/// First line of a public key file (`cargo xtask keygen`); the key follows in hex on the next line.
pub const PUBLIC_KEY_FILE_HEADER: &str = "skelact ed25519 public key";
/// First line of a private key file; the 32-byte Ed25519 seed follows in hex.
pub const PRIVATE_KEY_FILE_HEADER: &str = "skelact ed25519 private key";

/// What the signer signs: this domain tag, then a digest of the content, the signing key and the signer name. The
/// tag keeps a bundle signature from ever being valid for anything else the same key signs; the key and the name
/// are covered so that neither can be swapped under a valid signature.
pub const SIGNING_DOMAIN: [u8; 32] = *b"skelact bundle signature v1\0\0\0\0\0";

/// The 64 bytes an Ed25519 signature of a bundle covers: the domain tag `skelact bundle signature v1` (zero-padded
/// to 32 bytes), then SHA-256 of the content digest, the public key, the signer name's length (u32 LE) and the name.
pub fn signing_message(content_digest: &[u8; 32], public_key: &[u8; PUBLIC_KEY_LEN], signer: &str) -> [u8; 64] {
    let mut hash = Sha256::new();
    hash.update(content_digest);
    hash.update(public_key);
    hash.update((signer.len() as u32).to_le_bytes());
    hash.update(signer.as_bytes());
    let mut message = [0u8; 64];
    message[..32].copy_from_slice(&SIGNING_DOMAIN);
    message[32..].copy_from_slice(&hash.finalize());
    message
}

/// SHA-256 over every section but signatures, in table order: each as its kind (u32 LE), its length (u64 LE) and
/// its payload. The layout (offsets, padding, header, trailer) is left out, so adding the signature section does
/// not change what it signs; the signature must be the last section, so no section index moves either.
pub fn content_digest<'a>(sections: impl Iterator<Item = Section<'a>>) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(b"skelact bundle content v1");
    for section in sections.filter(|s| s.kind() != Some(SectionKind::Signature)) {
        hash.update(section.kind_code.to_le_bytes());
        hash.update((section.payload.len() as u64).to_le_bytes());
        hash.update(section.payload);
    }
    hash.finalize().into()
}

/// A parsed `Signature` section. It says who claims to have signed; only verifying `signature` against a trusted
/// key says whether that is true.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignatureSection<'a> {
    pub algorithm: u32,
    pub public_key: [u8; PUBLIC_KEY_LEN],
    pub signature: [u8; SIGNATURE_LEN],
    /// A name for people (for example `fleet-release-2026`); not checked by anything.
    pub signer: &'a str,
}

impl<'a> SignatureSection<'a> {
    /// The message this section's signature must verify over, for a bundle of `content_digest`.
    pub fn message(&self, content_digest: &[u8; 32]) -> [u8; 64] {
        signing_message(content_digest, &self.public_key, self.signer)
    }

    /// Reads the payload of section `index`.
    pub fn parse(index: u16, payload: &'a [u8]) -> Result<Self, BundleError> {
        let invalid = |reason| BundleError::InvalidSection { index, reason };
        let fixed = payload.get(..SIGNATURE_FIXED_LEN).ok_or(invalid("signature section too short"))?;
        let algorithm = u32::from_le_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]);
        if algorithm != ED25519 {
            return Err(invalid("signature algorithm is not Ed25519 (1)"));
        }
        let name_len = u32::from_le_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]) as usize;
        if name_len > MAX_SIGNER_LEN || payload.len() != SIGNATURE_FIXED_LEN + name_len {
            return Err(invalid("signature section length does not match its signer name"));
        }
        let signer =
            core::str::from_utf8(&payload[SIGNATURE_FIXED_LEN..]).map_err(|_| invalid("signer name is not UTF-8"))?;
        let mut public_key = [0u8; PUBLIC_KEY_LEN];
        public_key.copy_from_slice(&fixed[8..8 + PUBLIC_KEY_LEN]);
        let mut signature = [0u8; SIGNATURE_LEN];
        signature.copy_from_slice(&fixed[8 + PUBLIC_KEY_LEN..]);
        Ok(SignatureSection { algorithm, public_key, signature, signer })
    }

    /// The payload bytes of this section.
    #[cfg(feature = "alloc")]
    pub fn to_bytes(&self) -> alloc::vec::Vec<u8> {
        let mut bytes = alloc::vec::Vec::with_capacity(SIGNATURE_FIXED_LEN + self.signer.len());
        bytes.extend_from_slice(&self.algorithm.to_le_bytes());
        bytes.extend_from_slice(&(self.signer.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&self.public_key);
        bytes.extend_from_slice(&self.signature);
        bytes.extend_from_slice(self.signer.as_bytes());
        bytes
    }
}

/// A short, stable name of a public key for logs and `skelact info`: the first 8 bytes of its SHA-256, in hex.
pub fn key_fingerprint(public_key: &[u8; PUBLIC_KEY_LEN]) -> [u8; 16] {
    let digest = Sha256::digest(public_key);
    let mut hex = [0u8; 16];
    for (pair, byte) in hex.chunks_exact_mut(2).zip(digest.iter()) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0xf)];
    }
    hex
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Most self-test windows in one bundle.
pub const MAX_SELF_TEST_WINDOWS: u32 = 16;
/// Bytes of the self-test header: windows, input values, output values, minimum cosine.
pub const SELF_TEST_HEADER_LEN: usize = 16;

/// A parsed `SelfTest` section: joint-stream input windows and the outputs the reference (onnxruntime FP32)
/// computed for them. A device runs them through the engine it will use and compares.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SelfTest<'a> {
    pub windows: u32,
    /// Values of one input window (the manifest's input tensor) and of one output.
    pub input_len: u32,
    pub output_len: u32,
    /// Each window's output must reach this cosine similarity with the expected one, and the same top-1.
    pub min_cosine: f32,
    /// `windows × input_len` then `windows × output_len` little-endian f32.
    values: &'a [u8],
}

impl<'a> SelfTest<'a> {
    /// Reads the payload of section `index`, checking its sizes against the manifest's tensors.
    pub fn parse(index: u16, payload: &'a [u8], input_len: u64, output_len: u64) -> Result<Self, BundleError> {
        let invalid = |reason| BundleError::InvalidSection { index, reason };
        let header = payload.get(..SELF_TEST_HEADER_LEN).ok_or(invalid("self-test section too short"))?;
        let word = |at: usize| u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]);
        let (windows, inputs, outputs) = (word(0), word(4), word(8));
        let min_cosine = f32::from_bits(word(12));
        if windows == 0 || windows > MAX_SELF_TEST_WINDOWS {
            return Err(invalid("self-test window count must be in 1..=16"));
        }
        if u64::from(inputs) != input_len || u64::from(outputs) != output_len {
            return Err(invalid("self-test tensor sizes differ from the manifest's input and output"));
        }
        if !(0.0..=1.0).contains(&min_cosine) {
            return Err(invalid("self-test min_cosine must be in 0..=1"));
        }
        let values = u64::from(windows) * (u64::from(inputs) + u64::from(outputs)) * 4;
        if payload.len() as u64 != SELF_TEST_HEADER_LEN as u64 + values {
            return Err(BundleError::SectionSize {
                index,
                expected: SELF_TEST_HEADER_LEN as u64 + values,
                actual: payload.len() as u64,
            });
        }
        let test = SelfTest {
            windows,
            input_len: inputs,
            output_len: outputs,
            min_cosine,
            values: &payload[SELF_TEST_HEADER_LEN..],
        };
        if (0..windows as usize).any(|w| test.input(w).chain(test.output(w)).any(|v| !v.is_finite())) {
            return Err(invalid("self-test values must be finite"));
        }
        Ok(test)
    }

    /// Input values of window `w` (none past the last window).
    pub fn input(&self, w: usize) -> impl Iterator<Item = f32> + 'a {
        let len = self.input_len as usize;
        self.floats(w.saturating_mul(len), len, w < self.windows as usize)
    }

    /// Expected output values of window `w` (none past the last window).
    pub fn output(&self, w: usize) -> impl Iterator<Item = f32> + 'a {
        let len = self.output_len as usize;
        let start = (self.windows as usize * self.input_len as usize).saturating_add(w.saturating_mul(len));
        self.floats(start, len, w < self.windows as usize)
    }

    fn floats(&self, start: usize, len: usize, present: bool) -> impl Iterator<Item = f32> + 'a {
        let bytes = if present { self.values.get(start * 4..(start + len) * 4).unwrap_or(&[]) } else { &[] };
        bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The payload of a self-test section (`inputs` and `outputs` window after window).
    #[cfg(feature = "alloc")]
    pub fn encode(windows: u32, inputs: &[f32], outputs: &[f32], min_cosine: f32) -> alloc::vec::Vec<u8> {
        let per = |values: &[f32]| (values.len() as u32).checked_div(windows).unwrap_or(0);
        let mut bytes = alloc::vec::Vec::with_capacity(SELF_TEST_HEADER_LEN + 4 * (inputs.len() + outputs.len()));
        for word in [windows, per(inputs), per(outputs), min_cosine.to_bits()] {
            bytes.extend_from_slice(&word.to_le_bytes());
        }
        for value in inputs.iter().chain(outputs) {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        bytes
    }
}

/// How one self-test window compares: the cosine of the outputs and whether the top-1 index agrees.
pub fn compare_outputs(expected: impl Iterator<Item = f32>, actual: &[f32]) -> (f32, bool) {
    let (mut dot, mut ee, mut aa) = (0.0f64, 0.0f64, 0.0f64);
    let (mut best_expected, mut best_actual) = ((usize::MAX, f32::NEG_INFINITY), (usize::MAX, f32::NEG_INFINITY));
    for (i, (e, &a)) in expected.zip(actual).enumerate() {
        dot += f64::from(e) * f64::from(a);
        ee += f64::from(e) * f64::from(e);
        aa += f64::from(a) * f64::from(a);
        if e > best_expected.1 {
            best_expected = (i, e);
        }
        if a > best_actual.1 {
            best_actual = (i, a);
        }
    }
    let cosine = if ee > 0.0 && aa > 0.0 { (dot / libm::sqrt(ee * aa)) as f32 } else { 0.0 };
    (cosine, best_expected.0 == best_actual.0 && best_expected.0 != usize::MAX)
}
