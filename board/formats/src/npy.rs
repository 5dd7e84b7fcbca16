//! A reader for NumPy `.npy` files holding little-endian floats, the format of the desktop reference outputs, and
//! a writer of float32 arrays (what `skelact validate` hands back to the desktop).
//!
//! Only what the references use is supported: format versions 1–3, C order, dtype `<f4` (read as is) or `<f8`
//! (rounded to f32). Anything else is refused with a reason rather than misread.

use std::io::Write as _;
use std::path::Path;

/// An n-dimensional f32 array in C order.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Why a `.npy` file could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NpyError {
    #[error("cannot read {path}: {reason}")]
    Io { path: String, reason: String },
    #[error("not a .npy file (bad magic)")]
    Magic,
    #[error(".npy format version {0}.{1} is not supported")]
    Version(u8, u8),
    #[error("the .npy header is truncated or malformed: {0}")]
    Header(String),
    #[error("dtype {0} is not supported (expected <f4 or <f8)")]
    Dtype(String),
    #[error("Fortran-order arrays are not supported")]
    FortranOrder,
    #[error("the shape says {expected} bytes of data but the file has {actual}")]
    DataLength { expected: usize, actual: usize },
}

const MAGIC: &[u8] = b"\x93NUMPY";

impl NpyArray {
    /// Reads a `.npy` file.
    pub fn read(path: &Path) -> Result<Self, NpyError> {
        let bytes = std::fs::read(path)
            .map_err(|e| NpyError::Io { path: path.display().to_string(), reason: e.to_string() })?;
        Self::parse(&bytes)
    }

    /// Parses the bytes of a `.npy` file.
    pub fn parse(bytes: &[u8]) -> Result<Self, NpyError> {
        let rest = bytes.strip_prefix(MAGIC).ok_or(NpyError::Magic)?;
        let (&major, rest) = rest.split_first().ok_or(NpyError::Magic)?;
        let (&minor, rest) = rest.split_first().ok_or(NpyError::Magic)?;
        let (header_len, rest) = match major {
            1 => take_le(rest, 2)?,
            2 | 3 => take_le(rest, 4)?,
            _ => return Err(NpyError::Version(major, minor)),
        };
        if rest.len() < header_len {
            return Err(NpyError::Header(format!("declared {header_len} bytes, {} present", rest.len())));
        }
        let (header, data) = rest.split_at(header_len);
        let header = std::str::from_utf8(header).map_err(|_| NpyError::Header("not UTF-8".into()))?;
        let descr = dict_value(header, "descr")?;
        if dict_value(header, "fortran_order")?.trim() != "False" {
            return Err(NpyError::FortranOrder);
        }
        let shape = parse_shape(dict_value(header, "shape")?)?;
        let count: usize = shape.iter().product();
        let descr = descr.trim().trim_matches(|c| c == '\'' || c == '"');
        let width = match descr {
            "<f4" => 4,
            "<f8" => 8,
            other => return Err(NpyError::Dtype(other.to_string())),
        };
        let expected = count.checked_mul(width).ok_or(NpyError::Header("shape overflows".into()))?;
        if data.len() != expected {
            return Err(NpyError::DataLength { expected, actual: data.len() });
        }
        let data = if width == 4 {
            data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
        } else {
            data.chunks_exact(8)
                .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
                .collect()
        };
        Ok(NpyArray { shape, data })
    }
}

fn take_le(bytes: &[u8], width: usize) -> Result<(usize, &[u8]), NpyError> {
    if bytes.len() < width {
        return Err(NpyError::Header("header length missing".into()));
    }
    let (len, rest) = bytes.split_at(width);
    let value = len.iter().rev().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    Ok((value, rest))
}

/// The text of one value in the header's Python dict literal, e.g. `'<f4'`, `False` or `(3, 8)`.
fn dict_value<'h>(header: &'h str, key: &str) -> Result<&'h str, NpyError> {
    let missing = || NpyError::Header(format!("no '{key}' entry"));
    let quoted = format!("'{key}'");
    let after_key = &header[header.find(&quoted).ok_or_else(missing)? + quoted.len()..];
    let after_colon = after_key.trim_start().strip_prefix(':').ok_or_else(missing)?.trim_start();
    // A tuple runs to its closing parenthesis; anything else runs to the next comma or the dict's end.
    let end =
        if after_colon.starts_with('(') { after_colon.find(')').map(|i| i + 1) } else { after_colon.find([',', '}']) };
    Ok(&after_colon[..end.ok_or_else(missing)?])
}

fn parse_shape(text: &str) -> Result<Vec<usize>, NpyError> {
    let inner = text
        .trim()
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| NpyError::Header(format!("shape {text} is not a tuple")))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| part.parse().map_err(|_| NpyError::Header(format!("bad dimension {part}"))))
        .collect()
}

/// Writes a C-order little-endian float32 `.npy` (format 1.0).
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<(), NpyError> {
    debug_assert_eq!(shape.iter().product::<usize>(), data.len());
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    // The header, with magic, version and length, is padded with spaces to a multiple of 64 and ends in '\n'.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let header_len =
        u16::try_from(header.len()).map_err(|_| NpyError::Header(format!("{} dimensions is too many", shape.len())))?;
    let io = |e: std::io::Error| NpyError::Io { path: path.display().to_string(), reason: e.to_string() };
    let mut file = std::fs::File::create(path).map_err(io)?;
    let mut bytes = Vec::with_capacity(10 + header.len() + 4 * data.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&[1, 0]);
    bytes.extend_from_slice(&header_len.to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    file.write_all(&bytes).map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_files_written_here_read_back_with_the_board_reader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        let data: Vec<f32> = (0..24).map(|i| i as f32 * 0.5 - 3.0).collect();
        write_f32(&path, &[2, 3, 4], &data).unwrap();
        let back = NpyArray::read(&path).unwrap();
        assert_eq!(back.shape, vec![2, 3, 4]);
        assert_eq!(back.data, data);
        write_f32(&path, &[5], &data[..5]).unwrap();
        assert_eq!(NpyArray::read(&path).unwrap().shape, vec![5]);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!((10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize) % 64, 0);
    }

    fn npy(header: &str, data: &[u8]) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[1, 0]);
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    #[test]
    fn reads_f4_and_f8() {
        let data: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let array = NpyArray::parse(&npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", &data));
        assert_eq!(array.unwrap(), NpyArray { shape: vec![2], data: vec![1.5, -2.0] });
        let data: Vec<u8> = [0.25f64; 6].iter().flat_map(|v| v.to_le_bytes()).collect();
        let array =
            NpyArray::parse(&npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }\n", &data)).unwrap();
        assert_eq!(array.shape, vec![2, 3]);
        assert_eq!(array.data, vec![0.25; 6]);
    }

    #[test]
    fn refuses_what_it_cannot_read_correctly() {
        let four = [0u8; 4];
        assert_eq!(NpyArray::parse(b"PK\x03\x04"), Err(NpyError::Magic));
        assert_eq!(
            NpyArray::parse(&npy("{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", &four)),
            Err(NpyError::Dtype("<i4".into()))
        );
        assert_eq!(
            NpyArray::parse(&npy("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", &four)),
            Err(NpyError::FortranOrder)
        );
        assert_eq!(
            NpyArray::parse(&npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", &four)),
            Err(NpyError::DataLength { expected: 8, actual: 4 })
        );
        let mut truncated = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", &four);
        truncated.truncate(20);
        assert!(matches!(NpyArray::parse(&truncated), Err(NpyError::Header(_))));
    }

    #[test]
    fn scalar_shape_is_one_value() {
        let data = 3.0f32.to_le_bytes();
        let array = NpyArray::parse(&npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", &data));
        assert_eq!(array.unwrap(), NpyArray { shape: vec![], data: vec![3.0] });
    }
}
