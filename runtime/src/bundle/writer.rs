//! The writer (feature `std`): what `cargo xtask bundle` uses to lay out a bundle.

use std::vec::Vec;

use super::container::{
    seal, FORMAT_MAJOR, FORMAT_MINOR, HEADER_LEN, MAX_SECTIONS, PAYLOAD_ALIGN, TABLE_ENTRY_LEN, TRAILER_LEN,
};
use super::error::BundleError;
use super::manifest::{
    DenoiserExtension, DenoiserSpec, Manifest, ManifestExtension, ReconstructionExtension, ReconstructionSpec,
    TextExtension, TextSpec, TimeBase,
};
use super::reader::Bundle;
use super::signature::{content_digest, signing_message, SignatureSection, ED25519, PUBLIC_KEY_LEN, SIGNATURE_LEN};
use super::SectionKind;

/// Collects payload sections, then writes them with a manifest as one bundle.
///
/// The manifest becomes section 0, so the payloads get indices from 1 in the order they are added; the manifest
/// refers to them by those indices.
#[derive(Clone, Debug, Default)]
pub struct BundleWriter {
    sections: Vec<(SectionKind, Vec<u8>)>,
    appended: Appended,
}

/// What the manifest section carries after the manifest itself, one field per minor version that added one.
#[derive(Clone, Copy, Debug, Default)]
struct Appended {
    /// 1.1.
    version: u64,
    /// 1.2.
    time_base: TimeBase,
    /// 1.3.
    reconstruction: ReconstructionExtension,
    /// 1.4.
    text: TextExtension,
    /// 1.5.
    denoiser: DenoiserExtension,
}

impl Appended {
    /// What a checked bundle carries.
    fn of(bundle: &Bundle<'_>) -> Self {
        Appended {
            version: bundle.version(),
            time_base: TimeBase { model_rate_millihertz: bundle.model_rate_millihertz() },
            reconstruction: ReconstructionExtension { reconstruction: bundle.reconstruction() },
            text: TextExtension { text: bundle.text_encoder_spec() },
            denoiser: DenoiserExtension { denoiser: bundle.denoiser_spec() },
        }
    }
}

impl BundleWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// The bundle's version (default 0), written after the manifest.
    pub fn set_version(&mut self, version: u64) {
        self.appended.version = version;
    }

    /// The frame rate the model was trained at, in millihertz (default 30 000), written after the version.
    pub fn set_model_rate(&mut self, millihertz: u32) {
        self.appended.time_base = TimeBase { model_rate_millihertz: millihertz };
    }

    /// Adds the reconstruction model (FP32 ONNX, see [`SectionKind::Reconstruction`]) for windows of `frames` frames
    /// (the encoder's T), run by default above the missing fraction `threshold`; returns its section index.
    /// [`Self::finish`] refuses what the reader would (another T, a threshold outside 0..=1).
    pub fn add_reconstruction(&mut self, onnx: &[u8], frames: u32, threshold: f32) -> Result<u16, BundleError> {
        let section = self.add(SectionKind::Reconstruction, onnx)?;
        self.set_reconstruction(Some(ReconstructionSpec { section, frames, threshold }));
        Ok(section)
    }

    /// The manifest's reconstruction entry as given, referring to any section (tools and tests).
    pub fn set_reconstruction(&mut self, spec: Option<ReconstructionSpec>) {
        self.appended.reconstruction = ReconstructionExtension { reconstruction: spec };
    }

    /// Adds the text encoder (FP32 ONNX, see [`SectionKind::TextEncoder`]) and its `tokenizer.json`, for inputs of
    /// `max_tokens` tokens and embeddings of `dim` values; returns the text entry. [`Self::finish`] refuses what the
    /// reader would (shapes out of range, an empty section, a tokenizer that is not UTF-8).
    pub fn add_text_encoder(
        &mut self,
        onnx: &[u8],
        tokenizer_json: &[u8],
        max_tokens: u32,
        dim: u32,
    ) -> Result<TextSpec, BundleError> {
        let encoder_section = self.add(SectionKind::TextEncoder, onnx)?;
        let tokenizer_section = self.add(SectionKind::Tokenizer, tokenizer_json)?;
        let spec = TextSpec { encoder_section, tokenizer_section, max_tokens, dim };
        self.set_text(Some(spec));
        Ok(spec)
    }

    /// The manifest's text entry as given, referring to any sections (tools and tests).
    pub fn set_text(&mut self, spec: Option<TextSpec>) {
        self.appended.text = TextExtension { text: spec };
    }

    /// Adds TDSM's scorer (FP32 ONNX, see [`SectionKind::Denoiser`]) for embeddings of `feature` values; returns its
    /// entry. [`Self::finish`] refuses what the reader would (no text encoder, another embedding length).
    pub fn add_denoiser(&mut self, onnx: &[u8], feature: u32) -> Result<DenoiserSpec, BundleError> {
        let section = self.add(SectionKind::Denoiser, onnx)?;
        let spec = DenoiserSpec { section, feature };
        self.appended.denoiser = DenoiserExtension { denoiser: Some(spec) };
        Ok(spec)
    }

    /// Adds a payload and returns the section index the manifest must use for it.
    ///
    /// Errors: [`BundleError::DuplicateManifest`] for [`SectionKind::Manifest`] (the manifest is given to
    /// [`Self::finish`]), [`BundleError::MisplacedSignature`] for [`SectionKind::Signature`] (signing is done
    /// on the finished bundle, [`sign`]), [`BundleError::TooManySections`] past [`super::MAX_SECTIONS`].
    pub fn add(&mut self, kind: SectionKind, payload: &[u8]) -> Result<u16, BundleError> {
        if kind == SectionKind::Manifest {
            return Err(BundleError::DuplicateManifest);
        }
        if kind == SectionKind::Signature {
            return Err(BundleError::MisplacedSignature { index: self.sections.len() as u16 + 1 });
        }
        let index = self.sections.len() + 1;
        if index >= MAX_SECTIONS {
            return Err(BundleError::TooManySections { count: index as u32 + 1, max: MAX_SECTIONS as u32 });
        }
        self.sections.push((kind, payload.to_vec()));
        Ok(index as u16)
    }

    /// Adds floats as little-endian f32.
    pub fn add_f32(&mut self, kind: SectionKind, values: &[f32]) -> Result<u16, BundleError> {
        self.add(kind, &f32_bytes(values))
    }

    /// Adds a linear head: weights `[classes × dim]` row-major, then the bias if any.
    pub fn add_linear_head(&mut self, weights: &[f32], bias: Option<&[f32]>) -> Result<u16, BundleError> {
        let mut bytes = f32_bytes(weights);
        bytes.extend(f32_bytes(bias.unwrap_or(&[])));
        self.add(SectionKind::LinearHead, &bytes)
    }

    /// Adds prototype exemplars: embeddings `[exemplars × dim]` (unit length), then one label index each.
    pub fn add_prototypes(&mut self, embeddings: &[f32], labels: &[u16]) -> Result<u16, BundleError> {
        let mut bytes = f32_bytes(embeddings);
        bytes.extend(labels.iter().flat_map(|l| l.to_le_bytes()));
        self.add(SectionKind::Prototypes, &bytes)
    }

    /// Writes the bundle, then reads it back with [`Bundle::parse`] and returns the reader's error if it would
    /// refuse it: the writer never produces a bundle a device refuses for its own content.
    pub fn finish(&self, manifest: &Manifest<'_>) -> Result<Vec<u8>, BundleError> {
        let manifest_bytes = manifest_payload(manifest, &self.appended)?;
        let mut sections: Vec<(u32, &[u8])> = Vec::with_capacity(self.sections.len() + 1);
        sections.push((SectionKind::Manifest.code(), &manifest_bytes));
        sections.extend(self.sections.iter().map(|(kind, payload)| (kind.code(), payload.as_slice())));
        let bytes = assemble(FORMAT_MAJOR, FORMAT_MINOR, &sections);
        Bundle::parse(&bytes)?;
        Ok(bytes)
    }
}

/// The manifest section of format 1.5: the manifest, then what each minor version appended ([`Appended`]).
fn manifest_payload(manifest: &Manifest<'_>, appended: &Appended) -> Result<Vec<u8>, BundleError> {
    let encode = |bytes: &mut Vec<u8>, value: Result<Vec<u8>, postcard::Error>| -> Result<(), BundleError> {
        bytes.extend_from_slice(&value.map_err(|_| BundleError::MalformedManifest)?);
        Ok(())
    };
    let mut bytes = Vec::new();
    encode(&mut bytes, postcard::to_allocvec(manifest))?;
    encode(&mut bytes, postcard::to_allocvec(&ManifestExtension { version: appended.version }))?;
    encode(&mut bytes, postcard::to_allocvec(&appended.time_base))?;
    encode(&mut bytes, postcard::to_allocvec(&appended.reconstruction))?;
    encode(&mut bytes, postcard::to_allocvec(&appended.text))?;
    encode(&mut bytes, postcard::to_allocvec(&appended.denoiser))?;
    Ok(bytes)
}

/// Replaces the manifest section of `sections` with `manifest` and `appended`.
fn replace_manifest(
    sections: &mut [(u32, Vec<u8>)],
    manifest: &Manifest<'_>,
    appended: &Appended,
) -> Result<(), BundleError> {
    let slot = sections.iter_mut().find(|(kind, _)| *kind == SectionKind::Manifest.code());
    slot.ok_or(BundleError::MissingManifest)?.1 = manifest_payload(manifest, appended)?;
    Ok(())
}

/// Puts `payload` in the section of `kind`, in place when there is one (so that no section the manifest refers to
/// moves), else as a new last section. Returns its index.
fn put_section(sections: &mut Vec<(u32, Vec<u8>)>, kind: SectionKind, payload: &[u8]) -> Result<u16, BundleError> {
    let index = match sections.iter().position(|(k, _)| *k == kind.code()) {
        Some(index) => {
            sections[index].1 = payload.to_vec();
            index
        }
        None => {
            sections.push((kind.code(), payload.to_vec()));
            sections.len() - 1
        }
    };
    u16::try_from(index).map_err(|_| BundleError::TooManySections { count: index as u32 + 1, max: MAX_SECTIONS as u32 })
}

/// Lays out the sections of a checked bundle again as this writer's format after `edit` changed them, leaving out any
/// signature (every change invalidates it), and checks the result.
fn rebuild(
    bytes: &[u8],
    edit: impl FnOnce(&Bundle<'_>, &mut Vec<(u32, Vec<u8>)>) -> Result<(), BundleError>,
) -> Result<Vec<u8>, BundleError> {
    let bundle = Bundle::parse(bytes)?;
    let mut sections: Vec<(u32, Vec<u8>)> = bundle
        .sections()
        .filter(|s| s.kind() != Some(SectionKind::Signature))
        .map(|s| (s.kind_code, s.payload.to_vec()))
        .collect();
    edit(&bundle, &mut sections)?;
    let refs: Vec<(u32, &[u8])> = sections.iter().map(|(k, p)| (*k, p.as_slice())).collect();
    let rebuilt = assemble(FORMAT_MAJOR, FORMAT_MINOR.max(bundle.format_version().1), &refs);
    Bundle::parse(&rebuilt)?;
    Ok(rebuilt)
}

/// The bundle with its version set to `version` (and no signature: sign it after).
pub fn with_version(bytes: &[u8], version: u64) -> Result<Vec<u8>, BundleError> {
    rebuild(bytes, |bundle, sections| {
        replace_manifest(sections, bundle.manifest(), &Appended { version, ..Appended::of(bundle) })
    })
}

/// The bundle with `onnx` as its reconstruction model (FP32 ONNX for the encoder's T, run by default above the
/// missing fraction `threshold`), replacing any, and no signature.
pub fn with_reconstruction(bytes: &[u8], onnx: &[u8], threshold: f32) -> Result<Vec<u8>, BundleError> {
    rebuild(bytes, |bundle, sections| {
        let section = put_section(sections, SectionKind::Reconstruction, onnx)?;
        let frames = bundle.manifest().preprocess.frames_out;
        let reconstruction =
            ReconstructionExtension { reconstruction: Some(ReconstructionSpec { section, frames, threshold }) };
        replace_manifest(sections, bundle.manifest(), &Appended { reconstruction, ..Appended::of(bundle) })
    })
}

/// The bundle with a text encoder (`onnx`, FP32, inputs of `max_tokens` tokens, embeddings of `dim` values) and
/// its `tokenizer.json`, replacing any, and no signature.
pub fn with_text_encoder(
    bytes: &[u8],
    onnx: &[u8],
    tokenizer_json: &[u8],
    max_tokens: u32,
    dim: u32,
) -> Result<Vec<u8>, BundleError> {
    rebuild(bytes, |bundle, sections| {
        let encoder_section = put_section(sections, SectionKind::TextEncoder, onnx)?;
        let tokenizer_section = put_section(sections, SectionKind::Tokenizer, tokenizer_json)?;
        let text = TextExtension { text: Some(TextSpec { encoder_section, tokenizer_section, max_tokens, dim }) };
        replace_manifest(sections, bundle.manifest(), &Appended { text, ..Appended::of(bundle) })
    })
}

/// The bundle with TDSM's scorer (`onnx`, FP32, scoring the models' embeddings), replacing any, and no signature.
/// The bundle must carry the text encoder the scorer's candidates are encoded with.
pub fn with_denoiser(bytes: &[u8], onnx: &[u8]) -> Result<Vec<u8>, BundleError> {
    rebuild(bytes, |bundle, sections| {
        let section = put_section(sections, SectionKind::Denoiser, onnx)?;
        let feature = bundle.manifest().output_len();
        let denoiser = DenoiserExtension { denoiser: Some(DenoiserSpec { section, feature }) };
        replace_manifest(sections, bundle.manifest(), &Appended { denoiser, ..Appended::of(bundle) })
    })
}

/// The bundle with `payload` (see [`super::SelfTest::encode`]) as its self-test section, replacing any, and no
/// signature.
pub fn with_self_test(bytes: &[u8], payload: &[u8]) -> Result<Vec<u8>, BundleError> {
    rebuild(bytes, |_, sections| {
        // In place when there is one, so that no section the manifest refers to moves.
        match sections.iter_mut().find(|(kind, _)| *kind == SectionKind::SelfTest.code()) {
            Some(section) => section.1 = payload.to_vec(),
            None => sections.push((SectionKind::SelfTest.code(), payload.to_vec())),
        }
        Ok(())
    })
}

/// The bundle signed: any previous signature replaced by one that `sign_message` makes (Ed25519, by the key whose
/// public half is `public_key`) over [`signing_message`] of the content digest, key and signer, as the last
/// section.
///
/// Errors: [`BundleError::InvalidSection`] when `signer` is longer than [`super::MAX_SIGNER_LEN`] bytes.
pub fn sign(
    bytes: &[u8],
    signer: &str,
    public_key: [u8; PUBLIC_KEY_LEN],
    sign_message: impl FnOnce(&[u8; 64]) -> [u8; SIGNATURE_LEN],
) -> Result<Vec<u8>, BundleError> {
    rebuild(bytes, |_, sections| {
        let index = sections.len() as u16;
        if signer.len() > super::MAX_SIGNER_LEN {
            return Err(BundleError::InvalidSection { index, reason: "signer name longer than 64 bytes" });
        }
        let digest = content_digest(sections.iter().enumerate().map(|(i, (kind, payload))| super::Section {
            index: i as u16,
            kind_code: *kind,
            payload,
        }));
        let signature = sign_message(&signing_message(&digest, &public_key, signer));
        let section = SignatureSection { algorithm: ED25519, public_key, signature, signer };
        sections.push((SectionKind::Signature.code(), section.to_bytes()));
        Ok(())
    })
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Lays out raw `(kind code, payload)` sections as a sealed bundle of format version `major.minor`, checking
/// nothing. For tools and for tests of loaders, which need bundles of other versions, unknown kinds or broken
/// manifests; [`BundleWriter::finish`] is the checked way.
pub fn assemble(major: u16, minor: u16, sections: &[(u32, &[u8])]) -> Vec<u8> {
    let align = |n: usize| n.div_ceil(PAYLOAD_ALIGN) * PAYLOAD_ALIGN;
    let table_end = HEADER_LEN + sections.len() * TABLE_ENTRY_LEN;
    let mut offsets = Vec::with_capacity(sections.len());
    let mut end = table_end;
    for (_, payload) in sections {
        let offset = align(end);
        offsets.push(offset);
        end = offset + payload.len();
    }
    let total = end + TRAILER_LEN;

    let mut bytes = Vec::with_capacity(total);
    bytes.extend_from_slice(&super::MAGIC);
    bytes.extend_from_slice(&major.to_le_bytes());
    bytes.extend_from_slice(&minor.to_le_bytes());
    bytes.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&(total as u64).to_le_bytes());
    bytes.extend_from_slice(&[0; 8]);
    for ((kind, payload), offset) in sections.iter().zip(&offsets) {
        bytes.extend_from_slice(&kind.to_le_bytes());
        bytes.extend_from_slice(&[0; 4]);
        bytes.extend_from_slice(&(*offset as u64).to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    }
    for ((_, payload), offset) in sections.iter().zip(&offsets) {
        bytes.resize(*offset, 0);
        bytes.extend_from_slice(payload);
    }
    bytes.resize(total, 0);
    // The trailer is in place, so sealing cannot fail.
    let _ = seal(&mut bytes);
    bytes
}
