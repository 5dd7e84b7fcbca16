//! Subcommand implementations; `main.rs` only parses arguments.

pub mod record;
pub mod replay;

use skelact_board::backend::tensorrt;
use skelact_runtime::wire::{PROTOCOL_MAJOR, PROTOCOL_MINOR};

pub fn print_version() {
    println!("skelact {} (protocol v{PROTOCOL_MAJOR}.{PROTOCOL_MINOR})", env!("CARGO_PKG_VERSION"));
    println!("backend tract: built in (CPU)");
    match tensorrt::build_status() {
        Ok(found) => println!("backend tensorrt: built in ({found})"),
        Err(error) => println!("backend tensorrt: unavailable ({error})"),
    }
}
