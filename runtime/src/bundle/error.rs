//! Why a bundle was refused. One flat enum: each variant names one check of `docs/bundle.md`.

use crate::decision::DecisionError;
use crate::head::HeadError;
use crate::wire::LayoutId;

use super::manifest::{ComputeCapability, StreamKind, TensorRtVersion};
use super::SectionKind;

/// Why a bundle, or a part of it, cannot be used. Nothing is half-loaded: a refused bundle yields nothing.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BundleError {
    /// The file does not start with the bundle magic: it is not a bundle at all.
    BadMagic,
    /// The format major version is not the one this reader supports.
    UnsupportedMajor { found: u16, supported: u16 },
    /// The file is shorter than its header says (or than a header). `expected` is the declared length, or the
    /// header length when the length field itself is cut off.
    Truncated { expected: u64, actual: u64 },
    /// The file is longer than its header says: bytes were appended, or the length field was altered.
    TrailingBytes { expected: u64, actual: u64 },
    /// The declared length cannot hold the header, the section table and the trailer.
    DeclaredLengthTooSmall { declared: u64, minimum: u64 },
    /// The SHA-256 trailer does not match the contents: the file was altered or damaged.
    ChecksumMismatch,
    /// The section table lists more sections than [`super::MAX_SECTIONS`].
    TooManySections { count: u32, max: u32 },
    /// A section's payload starts inside the header or table, or ends past the trailer.
    SectionOutOfBounds { index: u16 },
    /// A section's payload starts before the previous section's ends (payloads are stored in table order).
    SectionOverlap { index: u16 },
    /// A section's payload offset is not a multiple of [`super::PAYLOAD_ALIGN`].
    SectionMisaligned { index: u16, offset: u64 },
    /// A section has a kind this reader does not know, in a bundle of a minor version it should know them all.
    UnknownSectionKind { index: u16, kind: u32 },
    /// No section holds the manifest.
    MissingManifest,
    /// More than one section holds a manifest.
    DuplicateManifest,
    /// The manifest section does not decode as a manifest of this format version (or exceeds a capacity such
    /// as [`super::MAX_LABELS`]).
    MalformedManifest,
    /// The manifest decodes but contradicts itself; `reason` says how.
    InvalidManifest { reason: &'static str },
    /// The manifest's decision thresholds are invalid.
    InvalidDecision(DecisionError),
    /// A signature section is not the last section (a bundle has at most one, after everything it signs).
    MisplacedSignature { index: u16 },
    /// The manifest refers to a section index that the table does not have.
    MissingSection { index: u16 },
    /// The manifest refers to a section of another kind than the reference needs.
    WrongSectionKind { index: u16, expected: SectionKind, found: u32 },
    /// A section's length does not match the shape the manifest gives it.
    SectionSize { index: u16, expected: u64, actual: u64 },
    /// A model section is empty.
    EmptySection { index: u16 },
    /// A section's content is unusable; `reason` says how.
    InvalidSection { index: u16, reason: &'static str },
    /// The model's joint layout is not the one the caller expects.
    WrongLayout { expected: LayoutId, found: LayoutId },
    /// The manifest's M (bodies per window) is not the runtime's.
    UnsupportedBodies { found: u8, supported: u8 },
    /// The input tensor shape is not `[1, 3, T, 25, M]` for the manifest's T and M.
    InputShape { frames_out: u32, bodies: u8 },
    /// The output tensor shape is not `[1, expected]` (labels for a logits head, the embedding size otherwise);
    /// `actual` is the number of values the declared shape holds.
    OutputShape { expected: u32, actual: u64 },
    /// The device's track rings hold a different number of frames than the model's raw window.
    RingFrames { bundle: u32, device: u32 },
    /// The bundle has no TensorRT engine for the stream.
    NoTensorRtEngine { stream: StreamKind },
    /// A TensorRT engine was built by another TensorRT version than the device runs.
    TensorRtVersionMismatch { engine: TensorRtVersion, runtime: TensorRtVersion },
    /// A TensorRT engine was built for a GPU of another compute capability than the device has.
    ComputeCapabilityMismatch { engine: ComputeCapability, gpu: ComputeCapability },
    /// A float section cannot be viewed in place: the bundle bytes are not 4-byte aligned in memory, or the host is
    /// big-endian. Load the bundle into aligned storage (`AlignedBytes`).
    UnalignedBuffer,
    /// Caller-supplied storage is too small for what the bundle holds (counted in exemplar slots for labels, in
    /// floats for embeddings).
    StorageTooSmall { needed: u32, actual: u32 },
    /// The head parameters of the bundle are refused by the head itself.
    Head(HeadError),
    /// The reconstruction model's windows have another T than the encoder's input.
    ReconstructionFrames { reconstruction: u32, encoder: u32 },
}

impl core::fmt::Display for BundleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BundleError::BadMagic => f.write_str("not a skelact bundle (bad magic)"),
            BundleError::UnsupportedMajor { found, supported } => {
                write!(f, "bundle format major version {found} is not supported (this reader supports {supported})")
            }
            BundleError::Truncated { expected, actual } => {
                write!(f, "bundle truncated: {actual} bytes, expected {expected}")
            }
            BundleError::TrailingBytes { expected, actual } => {
                write!(f, "bundle has trailing bytes: {actual} bytes, expected {expected}")
            }
            BundleError::DeclaredLengthTooSmall { declared, minimum } => write!(
                f,
                "bundle header declares {declared} bytes, fewer than the {minimum} its header, table and trailer need"
            ),
            BundleError::ChecksumMismatch => f.write_str("bundle altered or damaged: SHA-256 checksum mismatch"),
            BundleError::TooManySections { count, max } => {
                write!(f, "bundle lists {count} sections, at most {max} are allowed")
            }
            BundleError::SectionOutOfBounds { index } => write!(f, "section {index} lies outside the payload area"),
            BundleError::SectionOverlap { index } => {
                write!(f, "section {index} overlaps the previous section")
            }
            BundleError::SectionMisaligned { index, offset } => {
                write!(f, "section {index} starts at offset {offset}, not a multiple of 16")
            }
            BundleError::UnknownSectionKind { index, kind } => {
                write!(f, "section {index} has unknown kind {kind} for this format version")
            }
            BundleError::MissingManifest => f.write_str("bundle has no manifest section"),
            BundleError::DuplicateManifest => f.write_str("bundle has more than one manifest section"),
            BundleError::MalformedManifest => f.write_str("manifest does not decode (malformed or over capacity)"),
            BundleError::InvalidManifest { reason } => write!(f, "invalid manifest: {reason}"),
            BundleError::InvalidDecision(e) => write!(f, "invalid manifest decision settings: {e}"),
            BundleError::MisplacedSignature { index } => {
                write!(f, "section {index} is a signature, which must be the one last section")
            }
            BundleError::MissingSection { index } => {
                write!(f, "manifest refers to section {index}, which the bundle does not have")
            }
            BundleError::WrongSectionKind { index, expected, found } => write!(
                f,
                "manifest refers to section {index} as {expected:?} (kind {}), but it has kind {found}",
                expected.code()
            ),
            BundleError::SectionSize { index, expected, actual } => {
                write!(f, "section {index} has {actual} bytes, the manifest implies {expected}")
            }
            BundleError::EmptySection { index } => write!(f, "section {index} is empty"),
            BundleError::InvalidSection { index, reason } => write!(f, "section {index}: {reason}"),
            BundleError::WrongLayout { expected, found } => {
                write!(f, "bundle is for joint layout {found:?}, expected {expected:?}")
            }
            BundleError::UnsupportedBodies { found, supported } => {
                write!(f, "bundle model takes {found} bodies per window, the runtime supports {supported}")
            }
            BundleError::InputShape { frames_out, bodies } => {
                write!(
                    f,
                    "input tensor shape is not [1, 3, {frames_out}, 25, {bodies}] (T = {frames_out}, M = {bodies})"
                )
            }
            BundleError::OutputShape { expected, actual } => {
                write!(f, "output tensor shape holds {actual} values, expected shape [1, {expected}]")
            }
            BundleError::RingFrames { bundle, device } => {
                write!(f, "model windows span {bundle} raw frames, the device's track rings hold {device}")
            }
            BundleError::NoTensorRtEngine { stream } => {
                write!(f, "bundle has no TensorRT engine for the {stream:?} stream")
            }
            BundleError::TensorRtVersionMismatch { engine, runtime } => {
                write!(f, "TensorRT engine built with TensorRT {engine}, this device runs TensorRT {runtime}")
            }
            BundleError::ComputeCapabilityMismatch { engine, gpu } => {
                write!(f, "TensorRT engine built for GPU compute capability {engine}, this device's GPU is {gpu}")
            }
            BundleError::UnalignedBuffer => f.write_str(
                "float section cannot be viewed in place: bundle bytes not 4-byte aligned (or big-endian host)",
            ),
            BundleError::StorageTooSmall { needed, actual } => {
                write!(f, "storage holds {actual} items, the bundle needs {needed}")
            }
            BundleError::Head(e) => write!(f, "bundle head: {e}"),
            BundleError::ReconstructionFrames { reconstruction, encoder } => write!(
                f,
                "the reconstruction model takes windows of {reconstruction} frames, the encoder's input has T = {encoder}"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for BundleError {}

impl From<HeadError> for BundleError {
    fn from(e: HeadError) -> Self {
        BundleError::Head(e)
    }
}
