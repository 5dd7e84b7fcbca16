//! `skelact`: the device application.
//!
//! Only `info`-style plumbing exists so far; the backends, serial daemon, replay and demo arrive with the
//! device issue. Each unfinished subcommand says what it is waiting for instead of pretending to work.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("demo") => {
            eprintln!(
                "skelact demo: not available yet. It needs the tract backend, the pseudo-terminal replay \
                 (device issue) and the committed default bundle models/zoo/default.skb (pipeline issue)."
            );
            ExitCode::from(2)
        }
        Some("version") | Some("--version") => {
            println!(
                "skelact {} (protocol v{}.{})",
                env!("CARGO_PKG_VERSION"),
                skelact_runtime::wire::PROTOCOL_MAJOR,
                skelact_runtime::wire::PROTOCOL_MINOR
            );
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: skelact <demo|version>");
            ExitCode::from(2)
        }
    }
}
