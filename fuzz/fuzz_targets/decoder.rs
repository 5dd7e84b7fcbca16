//! Feeds arbitrary bytes, split at arbitrary points, into the streaming decoder.
//! Run: `cargo +nightly fuzz run decoder` (from the repository root; `cargo xtask ci` does this and installs
//! cargo-fuzz when it is missing).
#![no_main]

use libfuzzer_sys::fuzz_target;
use skelact_runtime::wire::{encode_packet, Decoder, Message, MAX_PACKET_LEN};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the chunk size so that the fuzzer explores packet boundaries across reads.
    let Some((&chunk, bytes)) = data.split_first() else { return };
    let chunk = usize::from(chunk).max(1);
    let mut decoder: Decoder = Decoder::new();
    let mut out = [0u8; MAX_PACKET_LEN + 1];
    for piece in bytes.chunks(chunk) {
        let mut input = piece;
        while let Some(outcome) = decoder.decode_next(&mut input) {
            // Whatever decodes must re-encode and decode to the same message.
            if let Ok(message) = outcome {
                let message: Message = message.clone();
                let n = encode_packet(&message, &mut out).expect("a decoded message fits a packet");
                let mut again: Decoder = Decoder::new();
                let mut input = &out[..n];
                let round = again.decode_next(&mut input).expect("one packet").expect("re-decodes");
                assert_eq!(round, &message);
            }
        }
    }
    assert_eq!(decoder.stats().bytes, bytes.len() as u64);
});
