//! Structured logs for the daemon, on stderr so that stdout stays free for data (JSON event lines, replays).
//!
//! The filter comes from `SKELACT_LOG` (then `RUST_LOG`) in `tracing-subscriber`'s `EnvFilter` syntax, default
//! `info`. Fields are structured either way: `json` writes one JSON object per line for log collectors,
//! `key-value` writes `level target: message key=value ...` for people, coloured only on a terminal (and not
//! with `NO_COLOR` set).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-11-21T08:00:00Z INFO skelact_links::reconnect: link connected port=/dev/ttyACM0 connects=1`
    #[default]
    KeyValue,
    /// `{"timestamp":"…","level":"INFO","fields":{"message":"link connected","port":"/dev/ttyACM0"},…}`
    Json,
}

/// Installs the global subscriber with the default filter `info`. Calling it twice keeps the first one and returns
/// `false`.
pub fn init(format: LogFormat) -> bool {
    init_with_default(format, "info")
}

/// Like [`init`], with another filter where neither `SKELACT_LOG` nor `RUST_LOG` names one: a tool that prints for
/// people (the demo) keeps the daemon's routine lines out of its output with `warn`, or all of them with `off`,
/// while a filter the user sets still wins.
pub fn init_with_default(format: LogFormat, default_filter: &str) -> bool {
    let filter = std::env::var("SKELACT_LOG")
        .ok()
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new(default_filter));
    // Colours only for a person at a terminal: journald (the systemd unit), log files and pipes get plain text.
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::KeyValue => builder.try_init().is_ok(),
        LogFormat::Json => builder.json().flatten_event(true).try_init().is_ok(),
    }
}
