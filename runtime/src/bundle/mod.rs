//! Model bundles: one `.skb` file holds everything a device needs to run a model, and nothing else is consulted.
//!
//! The normative byte layout, manifest fields, checks and versioning rules are in `docs/bundle.md`. In brief:
//!
//! ```text
//! header (32 bytes) ‖ section table (24 bytes per section) ‖ payloads (each at a 16-byte aligned offset)
//!                   ‖ SHA-256 of everything before it (32 bytes)
//! ```
//!
//! One section is the [`Manifest`] (postcard, with borrowed strings and bounded vectors; since 1.1 followed by the
//! bundle's version); the others are opaque payloads that the manifest refers to by section index: ONNX models per
//! stream and precision, TensorRT engines, head weights, prototype and label text embeddings, and the validation
//! summary. Since 1.1 a bundle may also carry self-test windows and, as its last section, a signature
//! (laid out here, verified by the device); since 1.3 a reconstruction model for missing joints.
//!
//! Reading is zero-copy and allocation-free: [`Bundle::parse`] checks the container, the checksum, the manifest and
//! every reference it makes, and then hands out borrowed slices of the caller's bytes. Float payloads are viewed
//! in place as `&[f32]`, which needs the bytes 4-byte aligned in memory (see [`Bundle::f32_section`]); with
//! `alloc`, [`AlignedBytes`] gives such storage. The writer ([`BundleWriter`], feature `std`) is what
//! `cargo xtask bundle` uses; it refuses to produce a bundle that the reader would refuse.

mod container;
mod error;
mod manifest;
mod reader;
mod signature;
#[cfg(feature = "std")]
mod writer;

#[cfg(test)]
mod tests;

pub use container::{
    seal, Section, FORMAT_MAJOR, FORMAT_MINOR, HEADER_LEN, MAGIC, MAX_SECTIONS, PAYLOAD_ALIGN, TABLE_ENTRY_LEN,
    TRAILER_LEN,
};
pub use error::BundleError;
pub use manifest::{
    ComputeCapability, DecisionParams, DenoiserExtension, DenoiserSpec, EncoderFamily, HeadSpec, Label, Manifest,
    ManifestExtension, Precision, PrecisionSet, PreprocessParams, ReconstructionExtension, ReconstructionSpec,
    StreamKind, StreamModel, TensorRtEngine, TensorRtVersion, TensorSpec, TextExtension, TextSpec, TimeBase,
    ValidationSummary, VariantFigures, WindowParams, MAX_ENGINES, MAX_LABELS, MAX_SHAPE_RANK, MAX_STREAMS,
    MAX_VARIANTS,
};
#[cfg(feature = "alloc")]
pub use reader::AlignedBytes;
pub use reader::{check_tensorrt, Bundle, ExemplarStorage};
pub use signature::{
    compare_outputs, content_digest, key_fingerprint, signing_message, SelfTest, SignatureSection, ED25519,
    MAX_SELF_TEST_WINDOWS, MAX_SIGNER_LEN, PRIVATE_KEY_FILE_HEADER, PUBLIC_KEY_FILE_HEADER, PUBLIC_KEY_LEN,
    SIGNATURE_LEN,
};
#[cfg(feature = "std")]
pub use writer::{
    assemble, sign, with_denoiser, with_reconstruction, with_self_test, with_text_encoder, with_version, BundleWriter,
};

/// What a section holds. The numbers are part of the format; new kinds get new numbers in a new minor version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u32)]
pub enum SectionKind {
    /// The [`Manifest`], postcard-encoded. Exactly one per bundle.
    Manifest = 1,
    /// An ONNX model of one stream, FP32 weights.
    OnnxFp32 = 2,
    /// An ONNX model of one stream, FP16 weights (for the GPU).
    OnnxFp16 = 3,
    /// An ONNX model of one stream, INT8 by explicit quantization (Q/DQ nodes).
    OnnxInt8 = 4,
    /// A serialized TensorRT engine; the manifest says for which TensorRT version and GPU.
    TensorRtEngine = 5,
    /// Linear head: `classes × dim` f32 weights (row-major), then `classes` f32 biases if the manifest says so.
    LinearHead = 6,
    /// Prototype exemplars: `exemplars × dim` f32 embeddings (unit length), then `exemplars` u16 label indices.
    Prototypes = 7,
    /// Label text embeddings: `labels × dim` f32, one row per label index.
    TextEmbeddings = 8,
    /// The validation summary as UTF-8 JSON text.
    ValidationSummary = 9,
    /// Since 1.1: an Ed25519 signature over the content digest, with the signer's public key and name. At most one,
    /// and only as the last section.
    Signature = 10,
    /// Since 1.1: joint-stream input windows and the reference's outputs for them, for a device's health check.
    SelfTest = 11,
    /// Since 1.3: the reconstruction model (REC, [`crate::reconstruct`]), ONNX with FP32 weights: inputs `joint`
    /// `[1, 3, T, 25, 2]` and `missing` `[1, 1, T, 25, 2]`, output `completed` `[1, 3, T, 25, 2]`. At most one, named
    /// by the manifest's [`ReconstructionSpec`].
    Reconstruction = 12,
    /// Since 1.4: the text encoder that turns a typed label into an embedding (`board/text`), ONNX with FP32
    /// weights: inputs `input_ids` and `attention_mask` (int64 `[1, L]`), outputs `sentence` (`[1, D]`, unit length)
    /// and `tokens` (`[1, L, D]`). At most one, named by the manifest's [`TextSpec`].
    TextEncoder = 13,
    /// Since 1.4: the text encoder's tokenizer, a Hugging Face `tokenizer.json` (UTF-8 JSON), named by the same
    /// [`TextSpec`].
    Tokenizer = 14,
    /// Since 1.5: TDSM's scorer (`models/skelact_models/tdsm.py`, `WindowScorer`), ONNX with FP32 weights: inputs
    /// `x0` (`[N, F]`, the window's embedding once per candidate), `sentence` (`[N, D]`) and `tokens` (`[N, L, D]`,
    /// the candidates' text features by the bundle's text encoder); output `error` (`[N]`, lower is nearer). At most
    /// one, named by the manifest's [`DenoiserSpec`].
    Denoiser = 15,
}

impl SectionKind {
    /// Every kind this version of the format knows, in code order.
    pub const ALL: [SectionKind; 15] = [
        SectionKind::Manifest,
        SectionKind::OnnxFp32,
        SectionKind::OnnxFp16,
        SectionKind::OnnxInt8,
        SectionKind::TensorRtEngine,
        SectionKind::LinearHead,
        SectionKind::Prototypes,
        SectionKind::TextEmbeddings,
        SectionKind::ValidationSummary,
        SectionKind::Signature,
        SectionKind::SelfTest,
        SectionKind::Reconstruction,
        SectionKind::TextEncoder,
        SectionKind::Tokenizer,
        SectionKind::Denoiser,
    ];

    /// The number written in the section table.
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// The kind a table number names, or `None` for a kind this version does not know.
    pub fn from_code(code: u32) -> Option<SectionKind> {
        SectionKind::ALL.into_iter().find(|kind| kind.code() == code)
    }

    /// The ONNX section kind of a precision.
    pub const fn onnx(precision: Precision) -> SectionKind {
        match precision {
            Precision::Fp32 => SectionKind::OnnxFp32,
            Precision::Fp16 => SectionKind::OnnxFp16,
            Precision::Int8 => SectionKind::OnnxInt8,
        }
    }
}
