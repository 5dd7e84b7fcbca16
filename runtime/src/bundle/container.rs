//! The container: header, section table, payloads and the SHA-256 trailer (`docs/bundle.md`, "Byte layout").
//!
//! Every multi-byte integer is little-endian. Parsing reads the caller's bytes in place and keeps only the
//! slice and two counts, so the table is re-read on demand instead of being copied into fixed storage.

use sha2::{Digest, Sha256};

use super::error::BundleError;
use super::SectionKind;

/// The first 8 bytes of every bundle. Like PNG's: the high byte catches 7-bit transfers, CR LF and the DOS EOF
/// catch text-mode line ending conversions.
pub const MAGIC: [u8; 8] = *b"\x89SKB\r\n\x1a\n";
/// Format major version. A bundle of another major version is refused.
pub const FORMAT_MAJOR: u16 = 1;
/// Format minor version. A reader reads bundles of any minor version of its major: newer minors may only add
/// section kinds (skipped by older readers) and append fields at the end of the manifest (ignored).
pub const FORMAT_MINOR: u16 = 5;
/// Bytes of the header: magic, major, minor, section count, total length, reserved.
pub const HEADER_LEN: usize = 32;
/// Bytes of one section table entry: kind, reserved, offset, length.
pub const TABLE_ENTRY_LEN: usize = 24;
/// Bytes of the SHA-256 trailer.
pub const TRAILER_LEN: usize = 32;
/// Every payload starts at a multiple of this offset, so a 16-byte aligned buffer gives aligned float sections.
pub const PAYLOAD_ALIGN: usize = 16;
/// Most sections in one bundle (3 streams × 3 precisions, engines, heads and summary fit with room to spare).
pub const MAX_SECTIONS: usize = 64;

// Field offsets in the header and in a table entry.
const MAJOR_AT: usize = 8;
const MINOR_AT: usize = 10;
const COUNT_AT: usize = 12;
const LENGTH_AT: usize = 16;
const ENTRY_KIND_AT: usize = 0;
const ENTRY_OFFSET_AT: usize = 8;
const ENTRY_LENGTH_AT: usize = 16;

/// Whether a bundle of minor version `minor` is newer than this reader, so that it may hold section kinds and
/// manifest fields this reader does not know (and skips).
pub(super) fn is_newer_minor(minor: u16) -> bool {
    minor > FORMAT_MINOR
}

/// One section of a parsed bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Section<'a> {
    /// Position in the section table; the manifest refers to sections by it.
    pub index: u16,
    /// The kind number from the table (see [`SectionKind`]); a newer minor version may use numbers this reader
    /// does not know.
    pub kind_code: u32,
    pub payload: &'a [u8],
}

impl Section<'_> {
    /// The kind, if this reader knows it.
    pub fn kind(&self) -> Option<SectionKind> {
        SectionKind::from_code(self.kind_code)
    }
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// A bundle whose header, length, checksum and section table have been checked.
#[derive(Clone, Copy, Debug)]
pub(super) struct Container<'a> {
    bytes: &'a [u8],
    minor: u16,
    count: u16,
}

impl<'a> Container<'a> {
    /// Checks, in this order: magic, major version, length, section count, checksum, section table.
    ///
    /// The checksum comes before the table so that any accidental damage is reported as such; the structural
    /// checks after it catch a writer that sealed a broken layout.
    pub(super) fn parse(bytes: &'a [u8]) -> Result<Self, BundleError> {
        let actual = bytes.len() as u64;
        let magic_len = bytes.len().min(MAGIC.len());
        if bytes.get(..magic_len) != MAGIC.get(..magic_len) {
            return Err(BundleError::BadMagic);
        }
        if let Some(major) = read_u16(bytes, MAJOR_AT) {
            if major != FORMAT_MAJOR {
                return Err(BundleError::UnsupportedMajor { found: major, supported: FORMAT_MAJOR });
            }
        }
        if bytes.len() < HEADER_LEN {
            let declared = read_u64(bytes, LENGTH_AT).unwrap_or(0);
            return Err(BundleError::Truncated { expected: declared.max(HEADER_LEN as u64), actual });
        }
        let (Some(minor), Some(count), Some(declared)) =
            (read_u16(bytes, MINOR_AT), read_u32(bytes, COUNT_AT), read_u64(bytes, LENGTH_AT))
        else {
            // Unreachable after the length check above; kept as an error rather than a panic.
            return Err(BundleError::Truncated { expected: HEADER_LEN as u64, actual });
        };
        if count as usize > MAX_SECTIONS {
            return Err(BundleError::TooManySections { count, max: MAX_SECTIONS as u32 });
        }
        let table_end = HEADER_LEN + count as usize * TABLE_ENTRY_LEN;
        let minimum = (table_end + TRAILER_LEN) as u64;
        if declared < minimum {
            return Err(BundleError::DeclaredLengthTooSmall { declared, minimum });
        }
        if actual < declared {
            return Err(BundleError::Truncated { expected: declared, actual });
        }
        if actual > declared {
            return Err(BundleError::TrailingBytes { expected: declared, actual });
        }
        let body_len = bytes.len() - TRAILER_LEN;
        let (body, trailer) = bytes.split_at(body_len);
        if Sha256::digest(body).as_slice() != trailer {
            return Err(BundleError::ChecksumMismatch);
        }

        let container = Container { bytes, minor, count: count as u16 };
        let mut previous_end = table_end as u64;
        for index in 0..container.count {
            let (kind, offset, length) = container.entry(index).ok_or(BundleError::SectionOutOfBounds { index })?;
            if offset % PAYLOAD_ALIGN as u64 != 0 {
                return Err(BundleError::SectionMisaligned { index, offset });
            }
            let end = offset.checked_add(length).ok_or(BundleError::SectionOutOfBounds { index })?;
            if offset < table_end as u64 || end > body_len as u64 {
                return Err(BundleError::SectionOutOfBounds { index });
            }
            if offset < previous_end {
                return Err(BundleError::SectionOverlap { index });
            }
            previous_end = end;
            if SectionKind::from_code(kind).is_none() && !is_newer_minor(minor) {
                return Err(BundleError::UnknownSectionKind { index, kind });
            }
        }
        Ok(container)
    }

    /// Kind, offset and length of table entry `index`, unchecked.
    fn entry(&self, index: u16) -> Option<(u32, u64, u64)> {
        let at = HEADER_LEN + index as usize * TABLE_ENTRY_LEN;
        Some((
            read_u32(self.bytes, at + ENTRY_KIND_AT)?,
            read_u64(self.bytes, at + ENTRY_OFFSET_AT)?,
            read_u64(self.bytes, at + ENTRY_LENGTH_AT)?,
        ))
    }

    pub(super) fn minor(&self) -> u16 {
        self.minor
    }

    pub(super) fn section_count(&self) -> u16 {
        self.count
    }

    /// Section `index`, or `None` past the table.
    pub(super) fn section(&self, index: u16) -> Option<Section<'a>> {
        if index >= self.count {
            return None;
        }
        let (kind_code, offset, length) = self.entry(index)?;
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(usize::try_from(length).ok()?)?;
        Some(Section { index, kind_code, payload: self.bytes.get(start..end)? })
    }

    /// The SHA-256 trailer: the bundle's identity, worth logging next to the model name.
    pub(super) fn checksum(&self) -> [u8; 32] {
        let mut sum = [0u8; 32];
        if let Some(trailer) = self.bytes.get(self.bytes.len().saturating_sub(TRAILER_LEN)..) {
            if trailer.len() == TRAILER_LEN {
                sum.copy_from_slice(trailer);
            }
        }
        sum
    }
}

/// Writes the SHA-256 trailer of `bytes` (over everything before the last 32 bytes).
///
/// The writer uses it; tests and tools use it to re-seal a bundle they altered on purpose, so that the reader's
/// structural checks, not the checksum, meet the alteration.
pub fn seal(bytes: &mut [u8]) -> Result<(), BundleError> {
    let actual = bytes.len() as u64;
    let body_len = bytes
        .len()
        .checked_sub(TRAILER_LEN)
        .filter(|&n| n >= HEADER_LEN)
        .ok_or(BundleError::Truncated { expected: (HEADER_LEN + TRAILER_LEN) as u64, actual })?;
    let (body, trailer) = bytes.split_at_mut(body_len);
    trailer.copy_from_slice(Sha256::digest(body).as_slice());
    Ok(())
}
