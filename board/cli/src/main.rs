//! `skelact`: the device application.
//!
//! Subcommands: `run` (the daemon), `monitor`, `install`, `slots`, `demo`, `classify`, `replay`, `record`, `convert`, `enroll`, `labels`,
//! `eval`, `info`, `bench`, `validate`, `version`.
//! Each lives in `cli/`; this file only parses arguments.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use skelact_device::logging::{self, LogFormat};
use skelact_links::serial::DEFAULT_BAUD;

mod commands;

#[derive(Debug, Parser)]
#[command(
    name = "skelact",
    version,
    about = "Skeleton action recognition on the device: serial ingest, inference, events"
)]
struct Cli {
    /// Log lines on stderr as key-value (for people) or json (for the journal); filter with SKELACT_LOG.
    // One line of help without the list of values: a global option's help repeats in every subcommand's.
    #[arg(long, value_enum, global = true, default_value_t = LogFormat::KeyValue, hide_possible_values = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: frames from a serial port in, events out (link, stdout, UDP, GPIO).
    Run(commands::run::RunArgs),
    /// Watch a running daemon live in the terminal: bodies, actions, link counters, queue, latency.
    Monitor(commands::monitor::MonitorArgs),
    /// Replay the committed synthetic session into the runtime over a pseudo-terminal and score the events.
    Demo(commands::demo::DemoArgs),
    /// Classify recordings or dataset files offline through the device's path: per-window top-k scores, the events
    /// and a verdict per file.
    Classify(commands::classify::ClassifyArgs),
    /// Capture the raw protocol-v1 stream from a serial port into a recording file.
    Record(RecordArgs),
    /// Send a recording (or an NTU, PKU-MMD, session, NW-UCLA or UTD-MHAD file) to a serial port, a UDP address, a
    /// Unix socket or stdout, paced by its timestamps.
    Replay(ReplayArgs),
    /// Write an NTU .skeleton, PKU-MMD .txt, session .jsonl, NW-UCLA .json or UTD-MHAD .mat file as a protocol-v1
    /// recording.
    Convert(commands::convert::ConvertArgs),
    /// Learn an action from a few examples into the bundle's enrollment overlay.
    Enroll(commands::enroll::EnrollArgs),
    /// Add, remove or list labels; `labels add "PROMPT"` names an action in words (text-aligned bundles).
    Labels(commands::labels::LabelsArgs),
    /// Stream a real dataset's split (NW-UCLA, UTD-MHAD) through the device's path and score it per sequence.
    Eval(commands::eval::EvalArgs),
    /// Print a bundle's manifest, version, signer and self-test.
    Info(commands::info::InfoArgs),
    /// Verify a bundle and write it into the inactive A/B slot, on trial until the daemon confirms it healthy.
    Install(commands::install::InstallArgs),
    /// Show what the A/B slots hold and their state.
    Slots(commands::install::SlotsArgs),
    /// Measure per-window inference latency (tract, and onnxruntime where available).
    Bench(commands::bench::BenchArgs),
    /// Run raw windows (.npy) through the device's preprocessing, backend and head; write the outputs as .npy for
    /// `cargo xtask validate`.
    Validate(commands::validate::ValidateArgs),
    /// Print the version, the protocol version and the backends built in.
    Version,
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
    /// A protocol-v1 recording (`skelact record`, .skr), an NTU .skeleton, a PKU-MMD .txt, a session .jsonl, an
    /// NW-UCLA .json or a UTD-MHAD .mat.
    file: PathBuf,
    /// The file's format [default: from its extension; other extensions are refused].
    #[arg(long, value_enum)]
    format: Option<skelact_formats::InputFormat>,
    /// Where to send: a serial port (or the slave side of a pseudo-terminal), `udp://HOST:PORT` (one packet per
    /// datagram) or `unix:///PATH` (a daemon listening there), as the daemon's `port` setting names them.
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
    // The tools that print for people keep the routine info lines off the terminal, where they would interleave
    // with their output; `--quiet` keeps every line off. SKELACT_LOG still wins.
    let default_filter = match &cli.command {
        Command::Demo(args) if args.quiet => "off",
        Command::Demo(_) | Command::Classify(_) => "warn",
        // Log lines would draw over the screen.
        Command::Monitor(_) => "off",
        _ => "info",
    };
    logging::init_with_default(cli.log_format, default_filter);
    let result = match cli.command {
        Command::Record(args) => commands::record::run(&args.port, args.baud, &args.out, args.frames, args.seconds),
        Command::Replay(args) => {
            let sink = match args.port {
                Some(port) => commands::replay::Sink::Port { path: port, baud: args.baud },
                None => commands::replay::Sink::Stdout,
            };
            let speed = if args.fast { None } else { Some(args.speed) };
            commands::replay::run(&args.file, args.format, sink, speed)
        }
        Command::Run(args) => commands::run::run(args),
        Command::Monitor(args) => commands::monitor::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Classify(args) => commands::classify::run(args),
        Command::Convert(args) => commands::convert::run(args),
        Command::Enroll(args) => commands::enroll::run(args),
        Command::Labels(args) => commands::labels::run(args),
        Command::Info(args) => commands::info::run(args),
        Command::Install(args) => commands::install::install(args),
        Command::Slots(args) => commands::install::show(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Validate(args) => commands::validate::run(&args),
        Command::Version => {
            commands::print_version();
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("skelact: {error:#}");
            ExitCode::FAILURE
        }
    }
}
