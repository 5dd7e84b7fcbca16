//! What the tests of this crate share: the repository, and the text encoder `cargo xtask text-encoder` builds.

use std::path::PathBuf;

use skelact_text::TextEncoder;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The exported model and tokenizer, or None (with the SKIPPED line) when they have not been built here.
pub fn encoder() -> Option<TextEncoder> {
    let dir = repo().join("models/build/text");
    let (onnx, tokenizer) = (dir.join("text.onnx"), dir.join("tokenizer.json"));
    if !onnx.exists() || !tokenizer.exists() {
        println!("SKIPPED: {} not built (run `cargo xtask text-encoder`)", onnx.display());
        return None;
    }
    let onnx = std::fs::read(onnx).expect("read text.onnx");
    let tokenizer = std::fs::read(tokenizer).expect("read tokenizer.json");
    Some(TextEncoder::load(&onnx, &tokenizer).expect("load the text encoder"))
}
