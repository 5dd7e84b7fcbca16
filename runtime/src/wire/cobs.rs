//! Consistent Overhead Byte Stuffing: removes every 0x00 from a packet so that 0x00 can delimit packets.
//!
//! Both directions work in place so that neither the device nor a small sender needs a second buffer.

/// Largest number of bytes COBS adds to `len` bytes of data (one code byte per 254 bytes, plus the first).
pub const fn max_overhead(len: usize) -> usize {
    len / 254 + 1
}

/// The encoded packet is not valid COBS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CobsError;

/// Decodes a COBS packet (without its 0x00 delimiter) in place and returns the decoded length.
///
/// The decoded bytes are `buf[..len]`. A code byte of zero or a code that runs past the end is an error.
pub fn decode_in_place(buf: &mut [u8]) -> Result<usize, CobsError> {
    let len = buf.len();
    let mut read = 0;
    let mut write = 0;
    while read < len {
        let code = buf[read] as usize;
        if code == 0 {
            return Err(CobsError);
        }
        read += 1;
        let run = code - 1;
        if read + run > len {
            return Err(CobsError);
        }
        buf.copy_within(read..read + run, write);
        write += run;
        read += run;
        // A code below 0xFF stands for a zero after its run, except after the very last run.
        if code != 0xFF && read < len {
            buf[write] = 0;
            write += 1;
        }
    }
    Ok(write)
}

/// COBS-encodes `buf[start..start + len]` into `buf[0..]` and returns the encoded length.
///
/// Encoding writes at most `1 + blocks_so_far` bytes ahead of what it has read, so the data may sit in the same
/// buffer as long as `start >= max_overhead(len)`. The caller guarantees that and that the buffer holds
/// `start + len` bytes; this is an internal helper for [`super::packet`].
pub(crate) fn encode_in_place(buf: &mut [u8], start: usize, len: usize) -> usize {
    debug_assert!(start >= max_overhead(len) && start + len <= buf.len());
    let mut code_at = 0;
    let mut write = 1;
    let mut code: u8 = 1;
    for read in start..start + len {
        let byte = buf[read];
        if byte == 0 {
            buf[code_at] = code;
            code_at = write;
            write += 1;
            code = 1;
        } else {
            buf[write] = byte;
            write += 1;
            code += 1;
            if code == 0xFF {
                buf[code_at] = code;
                code_at = write;
                write += 1;
                code = 1;
            }
        }
    }
    buf[code_at] = code;
    write
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(data: &[u8]) -> heapless::Vec<u8, 1024> {
        let start = max_overhead(data.len());
        let mut buf = [0u8; 1024];
        buf[start..start + data.len()].copy_from_slice(data);
        let n = encode_in_place(&mut buf, start, data.len());
        heapless::Vec::from_slice(&buf[..n]).unwrap()
    }

    fn roundtrip(data: &[u8]) {
        let encoded = encode(data);
        assert!(!encoded.contains(&0), "encoded data must not contain zero");
        assert!(encoded.len() <= data.len() + max_overhead(data.len()));
        let mut buf = encoded.clone();
        let n = decode_in_place(&mut buf).unwrap();
        assert_eq!(&buf[..n], data);
    }

    #[test]
    fn known_vectors() {
        // Vectors from the COBS paper / Wikipedia examples.
        assert_eq!(&encode(&[0x00])[..], &[0x01, 0x01]);
        assert_eq!(&encode(&[0x00, 0x00])[..], &[0x01, 0x01, 0x01]);
        assert_eq!(&encode(&[0x11, 0x22, 0x00, 0x33])[..], &[0x03, 0x11, 0x22, 0x02, 0x33]);
        assert_eq!(&encode(&[0x11, 0x22, 0x33, 0x44])[..], &[0x05, 0x11, 0x22, 0x33, 0x44]);
        assert_eq!(&encode(&[0x11, 0x00, 0x00, 0x00])[..], &[0x02, 0x11, 0x01, 0x01, 0x01]);
        assert_eq!(&encode(&[])[..], &[0x01]);
    }

    #[test]
    fn long_runs_roundtrip() {
        let mut data = [0u8; 700];
        for (i, b) in data.iter_mut().enumerate() {
            *b = (i % 255 + 1) as u8;
        }
        for len in [0, 1, 253, 254, 255, 508, 509, 700] {
            roundtrip(&data[..len]);
        }
        data[300] = 0;
        data[507] = 0;
        roundtrip(&data);
    }

    #[test]
    fn rejects_bad_codes() {
        assert_eq!(decode_in_place(&mut [0x00, 0x01]), Err(CobsError));
        assert_eq!(decode_in_place(&mut [0x05, 0x11, 0x22]), Err(CobsError));
    }
}
