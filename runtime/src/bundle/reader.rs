//! The reader: a parsed bundle borrowing the caller's bytes, and what a device builds from it.

use crate::head::{LinearHead, PrototypeHead, TextPrototypeHead};
use crate::pipeline::Head;
use crate::wire::LayoutId;

use super::container::{is_newer_minor, Container, Section, FORMAT_MAJOR};
use super::error::BundleError;
use super::manifest::{
    ComputeCapability, DenoiserExtension, DenoiserSpec, HeadSpec, Manifest, ManifestExtension, Precision,
    ReconstructionExtension, ReconstructionSpec, StreamKind, TensorRtEngine, TensorRtVersion, TextExtension, TextSpec,
    TimeBase,
};
use super::signature::{content_digest, SelfTest, SignatureSection};
use super::SectionKind;

/// Bytes per f32 and u16 in payloads.
const F32: u64 = 4;
const U16: u64 = 2;

/// A checked bundle. Every section the manifest names exists, has the right kind and the size the manifest
/// implies, so the accessors below fail only for reasons of the caller's (alignment, storage, hardware).
#[derive(Clone, Debug)]
pub struct Bundle<'a> {
    container: Container<'a>,
    manifest: Manifest<'a>,
    version: u64,
    time_base: TimeBase,
    reconstruction: ReconstructionExtension,
    text: TextExtension,
    denoiser: DenoiserExtension,
}

/// Caller-supplied storage for a prototype head: `capacity × dim` floats and `capacity` labels. The bundle's
/// exemplars are copied into it (enrolment on the device writes there too). Heads other than prototype need none.
#[derive(Debug)]
pub struct ExemplarStorage<'s> {
    pub embeddings: &'s mut [f32],
    pub labels: &'s mut [u16],
}

impl ExemplarStorage<'static> {
    /// No storage, for heads that need none.
    pub fn none() -> Self {
        ExemplarStorage { embeddings: &mut [], labels: &mut [] }
    }
}

impl<'a> Bundle<'a> {
    /// Checks `bytes` as a bundle: container (magic, version, length, checksum, section table), manifest
    /// (decoding and [`Manifest::validate`]) and every section the manifest refers to. Allocates nothing.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, BundleError> {
        let container = Container::parse(bytes)?;
        let mut manifest_section = None;
        for index in 0..container.section_count() {
            let section = container.section(index).ok_or(BundleError::SectionOutOfBounds { index })?;
            if section.kind() == Some(SectionKind::Manifest) {
                if manifest_section.is_some() {
                    return Err(BundleError::DuplicateManifest);
                }
                manifest_section = Some(section);
            }
        }
        let manifest_bytes = manifest_section.ok_or(BundleError::MissingManifest)?.payload;
        let (manifest, rest) =
            postcard::take_from_bytes::<Manifest<'a>>(manifest_bytes).map_err(|_| BundleError::MalformedManifest)?;
        // 1.1 appends the extension (a 1.0 bundle has none: version 0); a newer minor version may append more
        // fields, but in our own version anything after the extension is damage.
        let (extension, rest) = if rest.is_empty() || container.minor() == 0 {
            (ManifestExtension::default(), rest)
        } else {
            postcard::take_from_bytes::<ManifestExtension>(rest).map_err(|_| BundleError::MalformedManifest)?
        };
        // 1.2 appends the time base (the model's rate); without it the model is a 30 Hz one.
        let (time_base, rest) = if rest.is_empty() || container.minor() < 2 {
            (TimeBase::default(), rest)
        } else {
            postcard::take_from_bytes::<TimeBase>(rest).map_err(|_| BundleError::MalformedManifest)?
        };
        // 1.3 appends the reconstruction model, if any; without it there is none.
        let (reconstruction, rest) = if rest.is_empty() || container.minor() < 3 {
            (ReconstructionExtension::default(), rest)
        } else {
            postcard::take_from_bytes::<ReconstructionExtension>(rest).map_err(|_| BundleError::MalformedManifest)?
        };
        // 1.4 appends the text encoder, if any; without it there is none.
        let (text, rest) = if rest.is_empty() || container.minor() < 4 {
            (TextExtension::default(), rest)
        } else {
            postcard::take_from_bytes::<TextExtension>(rest).map_err(|_| BundleError::MalformedManifest)?
        };
        // 1.5 appends TDSM's scorer, if any; without it there is none.
        let (denoiser, rest) = if rest.is_empty() || container.minor() < 5 {
            (DenoiserExtension::default(), rest)
        } else {
            postcard::take_from_bytes::<DenoiserExtension>(rest).map_err(|_| BundleError::MalformedManifest)?
        };
        if !rest.is_empty() && !is_newer_minor(container.minor()) {
            return Err(BundleError::MalformedManifest);
        }
        manifest.validate()?;
        time_base.validate()?;
        reconstruction.validate(&manifest)?;
        text.validate()?;
        denoiser.validate(&manifest, &text)?;
        let bundle =
            Bundle { container, manifest, version: extension.version, time_base, reconstruction, text, denoiser };
        bundle.check_references()?;
        bundle.check_signature_and_self_test()?;
        Ok(bundle)
    }

    /// [`Self::parse`], then refuses a model whose joint layout is not `expected` ([`BundleError::WrongLayout`]).
    pub fn open(bytes: &'a [u8], expected: LayoutId) -> Result<Self, BundleError> {
        let bundle = Self::parse(bytes)?;
        bundle.manifest.check_layout(expected)?;
        Ok(bundle)
    }

    pub fn manifest(&self) -> &Manifest<'a> {
        &self.manifest
    }

    /// Format version `(major, minor)` of the file.
    pub fn format_version(&self) -> (u16, u16) {
        (FORMAT_MAJOR, self.container.minor())
    }

    /// The SHA-256 trailer, which identifies the bundle.
    pub fn checksum(&self) -> [u8; 32] {
        self.container.checksum()
    }

    /// The frame rate the model was trained at, in millihertz (30 000 for bundles before format 1.2): the rate of
    /// the time grid the device puts every sensor's frames on.
    pub fn model_rate_millihertz(&self) -> u32 {
        self.time_base.model_rate_millihertz
    }

    /// The reconstruction model's entry (format 1.3), if the bundle carries one.
    pub fn reconstruction(&self) -> Option<ReconstructionSpec> {
        self.reconstruction.reconstruction
    }

    /// The reconstruction model's ONNX bytes, if the bundle carries one (its section was checked by the parse).
    pub fn reconstruction_onnx(&self) -> Option<&'a [u8]> {
        let spec = self.reconstruction.reconstruction?;
        Some(self.container.section(spec.section)?.payload)
    }

    /// The text encoder's entry (format 1.4), if the bundle carries one.
    pub fn text_encoder_spec(&self) -> Option<TextSpec> {
        self.text.text
    }

    /// The text encoder's ONNX bytes and its `tokenizer.json`, if the bundle carries them (both sections were
    /// checked by the parse; the tokenizer is UTF-8).
    pub fn text_encoder(&self) -> Option<(&'a [u8], &'a str)> {
        let spec = self.text.text?;
        let model = self.container.section(spec.encoder_section)?.payload;
        let tokenizer = core::str::from_utf8(self.container.section(spec.tokenizer_section)?.payload).ok()?;
        Some((model, tokenizer))
    }

    /// TDSM's scorer entry (format 1.5), if the bundle carries one.
    pub fn denoiser_spec(&self) -> Option<DenoiserSpec> {
        self.denoiser.denoiser
    }

    /// TDSM's scorer's ONNX bytes, if the bundle carries one (its section was checked by the parse).
    pub fn denoiser_onnx(&self) -> Option<&'a [u8]> {
        let spec = self.denoiser.denoiser?;
        Some(self.container.section(spec.section)?.payload)
    }

    /// The bundle's version: it only ever rises between the bundles a publisher ships, so a device can refuse a
    /// downgrade. 0 for a 1.0 bundle, which has none.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The signature section, if the bundle is signed. Whether it is genuine is for the caller to verify, over
    /// its [`SignatureSection::message`] of [`Self::content_digest`].
    pub fn signature(&self) -> Option<SignatureSection<'a>> {
        let section = self.sections().find(|s| s.kind() == Some(SectionKind::Signature))?;
        SignatureSection::parse(section.index, section.payload).ok()
    }

    /// What a signature covers: every section but the signature itself (see [`super::content_digest`]).
    pub fn content_digest(&self) -> [u8; 32] {
        content_digest(self.sections())
    }

    /// The self-test windows, if the bundle has them.
    pub fn self_test(&self) -> Option<SelfTest<'a>> {
        let section = self.sections().find(|s| s.kind() == Some(SectionKind::SelfTest))?;
        let (input, output) = self.tensor_lens();
        SelfTest::parse(section.index, section.payload, input, output).ok()
    }

    /// Values of the input and of the output tensor.
    fn tensor_lens(&self) -> (u64, u64) {
        let product = |shape: &[u32]| shape.iter().fold(1u64, |n, &d| n.saturating_mul(u64::from(d)));
        (product(&self.manifest.input.shape), product(&self.manifest.output.shape))
    }

    pub fn section_count(&self) -> u16 {
        self.container.section_count()
    }

    /// Section `index`, including kinds this reader does not know.
    pub fn section(&self, index: u16) -> Option<Section<'a>> {
        self.container.section(index)
    }

    /// Every section in table order.
    pub fn sections(&self) -> impl Iterator<Item = Section<'a>> + '_ {
        (0..self.container.section_count()).filter_map(|i| self.container.section(i))
    }

    /// The ONNX model of `stream` in `precision`, if the bundle has it.
    pub fn onnx(&self, stream: StreamKind, precision: Precision) -> Option<&'a [u8]> {
        let index = self.manifest.stream(stream)?.onnx(precision)?;
        Some(self.container.section(index)?.payload)
    }

    /// The first TensorRT engine of `stream` that was built for this `runtime` version and `gpu`.
    ///
    /// Errors: [`BundleError::NoTensorRtEngine`] when the bundle has none for the stream, otherwise the
    /// mismatch of the first engine listed for it (see [`check_tensorrt`]).
    pub fn tensorrt_engine(
        &self,
        stream: StreamKind,
        runtime: TensorRtVersion,
        gpu: ComputeCapability,
    ) -> Result<(&TensorRtEngine, &'a [u8]), BundleError> {
        let mut first_error = None;
        for engine in self.manifest.tensorrt.iter().filter(|e| e.stream == stream) {
            match check_tensorrt(engine, runtime, gpu) {
                Ok(()) => {
                    let section = self.container.section(engine.section);
                    return Ok((engine, section.ok_or(BundleError::MissingSection { index: engine.section })?.payload));
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or(BundleError::NoTensorRtEngine { stream }))
    }

    /// The validation summary JSON, if shipped.
    pub fn validation_summary(&self) -> Option<&'a str> {
        let section = self.container.section(self.manifest.validation.section?)?;
        core::str::from_utf8(section.payload).ok()
    }

    /// A float section viewed in place, without copying.
    ///
    /// Errors: [`BundleError::MissingSection`]; [`BundleError::UnalignedBuffer`] when the bundle bytes do not
    /// start 4-byte aligned in memory or the host is big-endian (payloads are little-endian). Payload offsets are
    /// multiples of 16, so bytes loaded into [`AlignedBytes`] (or any 16-byte aligned buffer) always work.
    pub fn f32_section(&self, index: u16) -> Result<&'a [f32], BundleError> {
        let section = self.container.section(index).ok_or(BundleError::MissingSection { index })?;
        if cfg!(target_endian = "big") {
            return Err(BundleError::UnalignedBuffer);
        }
        bytemuck::try_cast_slice(section.payload).map_err(|_| BundleError::UnalignedBuffer)
    }

    /// The linear head, its weights borrowed from the bundle. `None` unless the head is [`HeadSpec::Linear`].
    pub fn linear_head(&self) -> Option<Result<LinearHead<'a>, BundleError>> {
        let HeadSpec::Linear { section, dim, bias } = self.manifest.head else { return None };
        Some(self.linear(section, dim, bias))
    }

    fn linear(&self, section: u16, dim: u32, bias: bool) -> Result<LinearHead<'a>, BundleError> {
        let values = self.f32_section(section)?;
        let classes = self.manifest.labels.len();
        let weights_len = classes.saturating_mul(dim as usize).min(values.len());
        let (weights, rest) = values.split_at(weights_len);
        Ok(LinearHead::new(weights, bias.then_some(rest), classes, dim as usize)?)
    }

    /// The text-prototype head, its label embeddings borrowed from the bundle. `None` unless the head is
    /// [`HeadSpec::Text`].
    pub fn text_head(&self) -> Option<Result<TextPrototypeHead<'a>, BundleError>> {
        let HeadSpec::Text { section, dim, temperature, .. } = self.manifest.head else { return None };
        Some(self.text(section, dim, temperature))
    }

    fn text(&self, section: u16, dim: u32, temperature: f32) -> Result<TextPrototypeHead<'a>, BundleError> {
        let values = self.f32_section(section)?;
        Ok(TextPrototypeHead::new(values, self.manifest.labels.len(), dim as usize, temperature)?)
    }

    /// Copies the bundle's prototype exemplars into the first slots of `storage` and returns how many there are
    /// (0 when the head ships none, or is not a prototype head). Needs no alignment.
    ///
    /// Errors: [`BundleError::StorageTooSmall`] in exemplar slots when `storage.labels` is too short, in floats
    /// when `storage.embeddings` is.
    pub fn copy_exemplars(&self, storage: &mut ExemplarStorage<'_>) -> Result<usize, BundleError> {
        let HeadSpec::Prototype { section: Some(index), exemplars, dim, .. } = self.manifest.head else {
            return Ok(0);
        };
        let count = exemplars as usize;
        // The parse checked the section size against these, so the product fits in memory.
        let values = count.saturating_mul(dim as usize);
        check_storage(count, storage.labels.len())?;
        check_storage(values, storage.embeddings.len())?;
        let payload = self.container.section(index).ok_or(BundleError::MissingSection { index })?.payload;
        let (floats, labels) = payload.split_at(values.saturating_mul(F32 as usize).min(payload.len()));
        for (out, bytes) in storage.embeddings.iter_mut().zip(floats.chunks_exact(4)) {
            *out = f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        for (out, bytes) in storage.labels.iter_mut().zip(labels.chunks_exact(2)) {
            *out = u16::from_le_bytes([bytes[0], bytes[1]]);
        }
        Ok(count)
    }

    /// The [`Head`] the manifest describes, ready for [`crate::pipeline::Classifier::new`].
    ///
    /// Linear and text heads borrow their weights from the bundle ([`Self::f32_section`] explains alignment). A
    /// prototype head lives in `storage` (its capacity is `storage.labels.len()`, and `storage.embeddings` must
    /// hold `capacity × dim` floats) and starts with the bundle's exemplars; other heads ignore `storage`.
    pub fn head<'s>(&self, storage: ExemplarStorage<'s>) -> Result<Head<'s>, BundleError>
    where
        'a: 's,
    {
        match self.manifest.head {
            HeadSpec::Logits => Ok(Head::Logits),
            HeadSpec::Linear { section, dim, bias } => Ok(Head::Linear(self.linear(section, dim, bias)?)),
            HeadSpec::Text { section, dim, temperature, min_similarity } => {
                Ok(Head::Text { head: self.text(section, dim, temperature)?, min_similarity })
            }
            HeadSpec::Prototype { dim, k, min_similarity, .. } => {
                let mut storage = storage;
                let len = self.copy_exemplars(&mut storage)?;
                let dim = dim as usize;
                let needed = storage.labels.len().saturating_mul(dim);
                check_storage(needed, storage.embeddings.len())?;
                let ExemplarStorage { embeddings, labels } = storage;
                let head = PrototypeHead::restore(&mut embeddings[..needed], labels, dim, usize::from(k), len)?;
                Ok(Head::Prototype { head, min_similarity })
            }
        }
    }

    /// Every section the manifest names exists, has the right kind, and the size the manifest implies.
    fn check_references(&self) -> Result<(), BundleError> {
        let m = &self.manifest;
        for stream in &m.streams {
            for precision in [Precision::Fp32, Precision::Fp16, Precision::Int8] {
                if let Some(index) = stream.onnx(precision) {
                    self.model_section(index, SectionKind::onnx(precision))?;
                }
            }
        }
        for engine in &m.tensorrt {
            self.model_section(engine.section, SectionKind::TensorRtEngine)?;
        }
        let labels = m.labels.len() as u64;
        match m.head {
            HeadSpec::Logits => {}
            HeadSpec::Linear { section, dim, bias } => {
                let values = labels.saturating_mul(u64::from(dim)) + if bias { labels } else { 0 };
                self.sized_section(section, SectionKind::LinearHead, values.saturating_mul(F32))?;
            }
            HeadSpec::Prototype { section: Some(section), exemplars, dim, .. } => {
                let count = u64::from(exemplars);
                let float_bytes = count.saturating_mul(u64::from(dim)).saturating_mul(F32);
                let payload =
                    self.sized_section(section, SectionKind::Prototypes, float_bytes.saturating_add(count * U16))?;
                let label_bytes = payload.get(float_bytes as usize..).unwrap_or(&[]);
                if label_bytes.chunks_exact(2).any(|b| u64::from(u16::from_le_bytes([b[0], b[1]])) >= labels) {
                    return Err(BundleError::InvalidSection {
                        index: section,
                        reason: "exemplar label index out of range",
                    });
                }
            }
            HeadSpec::Prototype { section: None, .. } => {}
            HeadSpec::Text { section, dim, .. } => {
                let bytes = labels.saturating_mul(u64::from(dim)).saturating_mul(F32);
                self.sized_section(section, SectionKind::TextEmbeddings, bytes)?;
            }
        }
        if let Some(index) = m.validation.section {
            let payload = self.typed_section(index, SectionKind::ValidationSummary)?;
            if core::str::from_utf8(payload).is_err() {
                return Err(BundleError::InvalidSection { index, reason: "validation summary is not UTF-8" });
            }
        }
        if let Some(spec) = self.reconstruction.reconstruction {
            self.model_section(spec.section, SectionKind::Reconstruction)?;
        }
        if let Some(spec) = self.text.text {
            self.model_section(spec.encoder_section, SectionKind::TextEncoder)?;
            let index = spec.tokenizer_section;
            if core::str::from_utf8(self.model_section(index, SectionKind::Tokenizer)?).is_err() {
                return Err(BundleError::InvalidSection { index, reason: "tokenizer is not UTF-8" });
            }
        }
        if let Some(spec) = self.denoiser.denoiser {
            self.model_section(spec.section, SectionKind::Denoiser)?;
        }
        Ok(())
    }

    /// At most one signature, as the last section (so that no section index moves when it is added), and at most
    /// one self-test; both well formed.
    fn check_signature_and_self_test(&self) -> Result<(), BundleError> {
        let last = self.container.section_count().saturating_sub(1);
        let mut self_tests = 0;
        for section in self.sections() {
            match section.kind() {
                Some(SectionKind::Signature) => {
                    if section.index != last {
                        return Err(BundleError::MisplacedSignature { index: section.index });
                    }
                    SignatureSection::parse(section.index, section.payload)?;
                }
                Some(SectionKind::SelfTest) => {
                    self_tests += 1;
                    if self_tests > 1 {
                        return Err(BundleError::InvalidSection {
                            index: section.index,
                            reason: "a bundle has at most one self-test section",
                        });
                    }
                    let (input, output) = self.tensor_lens();
                    SelfTest::parse(section.index, section.payload, input, output)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn typed_section(&self, index: u16, expected: SectionKind) -> Result<&'a [u8], BundleError> {
        let section = self.container.section(index).ok_or(BundleError::MissingSection { index })?;
        if section.kind_code != expected.code() {
            return Err(BundleError::WrongSectionKind { index, expected, found: section.kind_code });
        }
        Ok(section.payload)
    }

    /// The payload of section `index`, which must be of the `expected` kind and not empty.
    fn model_section(&self, index: u16, expected: SectionKind) -> Result<&'a [u8], BundleError> {
        let payload = self.typed_section(index, expected)?;
        if payload.is_empty() {
            return Err(BundleError::EmptySection { index });
        }
        Ok(payload)
    }

    fn sized_section(&self, index: u16, expected: SectionKind, bytes: u64) -> Result<&'a [u8], BundleError> {
        let payload = self.typed_section(index, expected)?;
        if payload.len() as u64 != bytes {
            return Err(BundleError::SectionSize { index, expected: bytes, actual: payload.len() as u64 });
        }
        Ok(payload)
    }
}

/// Refuses storage of `actual` items where `needed` are required.
fn check_storage(needed: usize, actual: usize) -> Result<(), BundleError> {
    if actual < needed {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        return Err(BundleError::StorageTooSmall { needed: clamp(needed), actual: clamp(actual) });
    }
    Ok(())
}

/// Whether a TensorRT engine can be deserialized on a device running TensorRT `runtime` on a GPU of compute
/// capability `gpu`: the one compatibility rule of skelact. TensorRT loads an engine only on the release
/// (major.minor.patch) and GPU architecture it was built for, so both must match exactly. The build number is
/// recorded in the bundle but not compared: the TensorRT library reports only major.minor.patch
/// (`getInferLibVersion`). The device calls this (through [`Bundle::tensorrt_engine`]) before handing the bytes
/// to TensorRT, whose own refusal would be far less clear.
pub fn check_tensorrt(
    engine: &TensorRtEngine,
    runtime: TensorRtVersion,
    gpu: ComputeCapability,
) -> Result<(), BundleError> {
    let release = |v: TensorRtVersion| (v.major, v.minor, v.patch);
    if release(engine.tensorrt) != release(runtime) {
        return Err(BundleError::TensorRtVersionMismatch { engine: engine.tensorrt, runtime });
    }
    if engine.compute_capability != gpu {
        return Err(BundleError::ComputeCapabilityMismatch { engine: engine.compute_capability, gpu });
    }
    Ok(())
}

/// Bundle bytes in 16-byte aligned heap storage, so that float sections can be viewed in place.
#[cfg(feature = "alloc")]
#[derive(Clone, Debug)]
pub struct AlignedBytes {
    blocks: alloc::vec::Vec<u128>,
    len: usize,
}

#[cfg(feature = "alloc")]
impl AlignedBytes {
    /// Copies `bytes` into aligned storage.
    pub fn copy_from(bytes: &[u8]) -> Self {
        let mut blocks = alloc::vec![0u128; bytes.len().div_ceil(16)];
        bytemuck::cast_slice_mut::<u128, u8>(&mut blocks)[..bytes.len()].copy_from_slice(bytes);
        AlignedBytes { blocks, len: bytes.len() }
    }

    /// Reads a bundle file into aligned storage.
    #[cfg(feature = "std")]
    pub fn read(path: impl AsRef<std::path::Path>) -> std::io::Result<Self> {
        Ok(Self::copy_from(&std::fs::read(path)?))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<u128, u8>(&self.blocks)[..self.len]
    }
}
