//! `skelact`: the device application.
//!
//! Subcommands that exist: `record`, `replay`, `version`. `demo` says what it still waits for. The daemon (`run`),
//! `enroll`, `info` and `bench` arrive with the pipeline glue.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use skelact_board::link::serial::DEFAULT_BAUD;
use skelact_board::logging::{self, LogFormat};

mod cli;
// `skelact validate` (the model pipeline's device-side harness) lives with the other subcommands' files.
#[path = "cli/validate.rs"]
mod validate;

#[derive(Debug, Parser)]
#[command(name = "skelact", version, about = "Skeleton action recognition on the device: serial ingest, inference, events")]
struct Cli {
    /// Log line format on stderr (filter with SKELACT_LOG, e.g. `debug` or `skelact_board=debug`).
    #[arg(long, value_enum, global = true, default_value_t = LogFormat::KeyValue)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Capture the raw protocol-v1 stream from a serial port into a recording file.
    Record(RecordArgs),
    /// Send a recording over a serial port (or to stdout), paced by its frame timestamps.
    Replay(ReplayArgs),
    /// Replay a synthetic session into the runtime over a pseudo-terminal and score the events (not ready yet).
    Demo,
    /// Print the version, the protocol version and the backends built in.
    Version,
    /// Run raw windows (.npy) through a bundle with the device's preprocessing, backend and head; write the
    /// outputs as .npy for `cargo xtask validate`.
    Validate(validate::ValidateArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("limit").args(["frames", "seconds"])))]
struct RecordArgs {
    /// Serial port of the sensor, e.g. /dev/ttyACM0 (reopened if it goes away during the recording).
    #[arg(long)]
    port: PathBuf,
    /// Baud rate (ignored by USB CDC-ACM).
    #[arg(long, default_value_t = DEFAULT_BAUD)]
    baud: u32,
    /// Recording file to write (the packet bytes as received).
    #[arg(long)]
    out: PathBuf,
    /// Stop after this many valid frames.
    #[arg(long)]
    frames: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    seconds: Option<f64>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("sink").args(["port", "stdout"]).required(true)))]
#[command(group(clap::ArgGroup::new("pace").args(["speed", "fast"])))]
struct ReplayArgs {
    /// A protocol-v1 recording (as written by `skelact record`).
    file: PathBuf,
    /// Serial port to send to (a real port, or the slave side of a pseudo-terminal).
    #[arg(long)]
    port: Option<PathBuf>,
    /// Write the bytes to stdout instead.
    #[arg(long)]
    stdout: bool,
    /// Baud rate when sending to a port.
    #[arg(long, default_value_t = DEFAULT_BAUD)]
    baud: u32,
    /// Playback speed relative to the sensor's timestamps (2 = twice as fast).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Send as fast as the sink takes it, ignoring timestamps.
    #[arg(long)]
    fast: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let result = match cli.command {
        Command::Record(args) => cli::record::run(&args.port, args.baud, &args.out, args.frames, args.seconds),
        Command::Replay(args) => {
            let sink = match args.port {
                Some(port) => cli::replay::Sink::Port { path: port, baud: args.baud },
                None => cli::replay::Sink::Stdout,
            };
            let speed = if args.fast { None } else { Some(args.speed) };
            cli::replay::run(&args.file, sink, speed)
        }
        Command::Demo => {
            eprintln!(
                "skelact demo: not available yet. It needs the pipeline glue (decoder -> layouts -> tracks -> windows -> \
                 preprocessing -> heads -> decisions) wired to the tract backend, the committed synthetic session \
                 recording with ground truth, and the default bundle models/zoo/default.skb (pipeline issue). \
                 The tract backend, pseudo-terminal links, record and replay are in place."
            );
            return ExitCode::from(2);
        }
        Command::Version => {
            cli::print_version();
            Ok(())
        }
        Command::Validate(args) => validate::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("skelact: {error:#}");
            ExitCode::FAILURE
        }
    }
}
