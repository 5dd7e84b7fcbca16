//! The daemon's TOML configuration and device profiles.
//!
//! ```toml
//! profile = "orin-nano"                    # which profile to use (a built-in one or one below)
//! bundle = "/opt/skelact/default.skb"      # relative paths are relative to this file
//!
//! [daemon]
//! queue_windows = 2                        # windows waiting for inference before the oldest is dropped
//! status_interval_ms = 1000
//! events_to_link = true                    # protocol-v1 Event messages back over the serial link
//! udp = "192.168.1.20:9000"                # JSON event datagrams (optional)
//! stdout = "json"                          # "json", "text" or "off"
//!
//! [profiles.orin-nano]                     # overrides the built-in profile of that name, field by field
//! port = "/dev/ttyACM0"                    # or "udp://127.0.0.1:5005", or "unix:///run/skelact/ingest.sock"
//! baud = 921600
//! threads = 2
//! backend = "auto"                         # "auto", "tract", "onnxruntime" or "tensorrt"
//! onnxruntime = "/usr/lib/libonnxruntime.so"  # the onnxruntime library, where the search does not find it
//!
//! [trust]                                  # which bundle signatures this device accepts
//! keys = ["keys/fleet.pub"]                # public key files (`cargo xtask keygen`) or 64 hex digits
//! allow_unsigned = false                   # run unsigned bundles (development only)
//!
//! [slots]                                  # A/B model slots (`skelact install`); the daemon runs the active slot
//! dir = "/var/lib/skelact/slots"
//! trial_windows = 100                      # windows a trial bundle must run without error to be confirmed
//!
//! [monitor]                                # the status socket `skelact monitor` attaches to (off without it)
//! socket = "/run/skelact/monitor.sock"     # mode 0660: the daemon's user and group may connect
//! interval_ms = 200                        # snapshot period
//!
//! [reconstruction]                         # REC: the bundle's reconstruction model completes missing joints
//! mode = "auto"                            # "auto" (above the threshold), "on" (any missing joint) or "off"
//! threshold = 0.05                         # missing fraction above which "auto" runs it (default: the bundle's)
//!
//! [[gpio]]                                 # one output line per action, high while the action lasts
//! action = 23
//! chip = "/dev/gpiochip0"
//! line = 105
//! active_low = false
//! ```
//!
//! Precedence: command-line options, then the profile, then the `[daemon]` section, then the defaults.
//!
//! Every number has a range, refused at load with the key's name ([`RANGES`]): a setting can neither make the
//! daemon allocate without bound (`queue_windows` sizes preallocated window buffers) nor make it useless (`baud = 0`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::BackendChoice;
use crate::trust::{TrustError, TrustPolicy, TrustedKey};
use skelact_links::address::LinkAddress;
use skelact_links::serial::DEFAULT_BAUD;
use skelact_runtime::reconstruct::ReconstructionMode;

/// Most windows waiting for inference. Each holds three tensors of the model input (115 KiB for T = 64, 58 KiB for
/// T = 32), all preallocated, so this bounds the queue's memory at about 120 MiB.
pub const MAX_QUEUE_WINDOWS: usize = 1024;

/// The allowed range of every numeric setting, by key: (key, least, most).
pub const RANGES: [(&str, u64, u64); 6] = [
    ("threads", 1, 64),
    ("trial_windows", 1, 1_000_000),
    ("queue_windows", 1, MAX_QUEUE_WINDOWS as u64),
    ("status_interval_ms", 10, 60_000),
    ("baud", 1200, 12_000_000),
    ("interval_ms", 50, 10_000),
];

/// `value` of `key` when it lies in the key's range in [`RANGES`], else the error naming the key and the range.
pub fn in_range(key: &str, value: u64) -> Result<u64, ConfigError> {
    let (_, least, most) = RANGES.iter().find(|(k, _, _)| *k == key).copied().unwrap_or((key, 0, u64::MAX));
    if (least..=most).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::Invalid(format!("{key} = {value} is out of range: {least} to {most}")))
    }
}

/// A device profile: where the sensor is and how to run inference on this board.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub description: Option<String>,
    /// Where frames come in: a serial port's path, `udp://HOST:PORT` or `unix:///PATH` ([`LinkAddress`]).
    pub port: Option<PathBuf>,
    pub baud: Option<u32>,
    /// tract threads per window.
    pub threads: Option<usize>,
    pub backend: Option<BackendChoice>,
    /// The onnxruntime library (`libonnxruntime.so`), where it is not in a place the device searches.
    pub onnxruntime: Option<PathBuf>,
}

/// Where event lines go on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StdoutFormat {
    Json,
    Text,
    Off,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonSection {
    pub queue_windows: Option<usize>,
    pub status_interval_ms: Option<u64>,
    pub events_to_link: Option<bool>,
    pub udp: Option<String>,
    pub stdout: Option<StdoutFormat>,
}

/// One GPIO output line for an action.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpioLine {
    /// The bundle's action id (as events carry it).
    pub action: u16,
    /// The GPIO character device, e.g. `/dev/gpiochip0`.
    pub chip: PathBuf,
    /// Line offset on that chip.
    pub line: u32,
    #[serde(default)]
    pub active_low: bool,
}

/// Which bundle signatures the device accepts (see [`crate::trust`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustSection {
    /// Public key files (relative to the configuration file) or keys as 64 hex digits.
    #[serde(default)]
    pub keys: Vec<String>,
    pub allow_unsigned: Option<bool>,
}

/// A/B model slots (see [`crate::slots`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotsSection {
    pub dir: Option<PathBuf>,
    pub trial_windows: Option<u64>,
}

/// The status socket for `skelact monitor` (see [`crate::daemon::monitor`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorSection {
    pub socket: Option<PathBuf>,
    pub interval_ms: Option<u64>,
}

/// REC, reconstruction of missing joints before classification (see `skelact_runtime::reconstruct`). Without a
/// reconstruction model in the bundle it does nothing.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconstructionSection {
    pub mode: Option<ReconstructionModeSetting>,
    pub threshold: Option<f64>,
}

/// `mode` of `[reconstruction]`, as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ReconstructionModeSetting {
    /// On windows whose missing fraction is above the threshold.
    Auto,
    /// On every window with a missing joint.
    On,
    /// Never.
    Off,
}

impl From<ReconstructionModeSetting> for ReconstructionMode {
    fn from(setting: ReconstructionModeSetting) -> Self {
        match setting {
            ReconstructionModeSetting::Auto => ReconstructionMode::Auto,
            ReconstructionModeSetting::On => ReconstructionMode::On,
            ReconstructionModeSetting::Off => ReconstructionMode::Off,
        }
    }
}

/// A missing fraction setting: finite, 0 to 1; else the error naming the key.
pub fn fraction(key: &str, value: f64) -> Result<f32, ConfigError> {
    if (0.0..=1.0).contains(&value) {
        Ok(value as f32)
    } else {
        Err(ConfigError::Invalid(format!("{key} = {value} is out of range: a missing fraction, 0 to 1")))
    }
}

/// A configuration file as written.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub profile: Option<String>,
    pub bundle: Option<PathBuf>,
    pub overlay: Option<PathBuf>,
    #[serde(default)]
    pub daemon: DaemonSection,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
    #[serde(default)]
    pub gpio: Vec<GpioLine>,
    #[serde(default)]
    pub trust: TrustSection,
    #[serde(default)]
    pub slots: SlotsSection,
    #[serde(default)]
    pub monitor: MonitorSection,
    #[serde(default)]
    pub reconstruction: ReconstructionSection,
}

/// The profiles every build knows. Thread counts are starting points for each board's CPU cores (Orin Nano 6,
/// Orin NX 8, AGX Orin 12), leaving cores for the ingest thread and the system; they are not yet measured on
/// the boards. `auto` takes TensorRT where the build and the bundle allow it.
pub fn builtin_profiles() -> BTreeMap<String, Profile> {
    let jetson = |description: &str, threads| Profile {
        description: Some(description.into()),
        port: Some(PathBuf::from("/dev/ttyACM0")),
        baud: Some(DEFAULT_BAUD),
        threads: Some(threads),
        backend: Some(BackendChoice::Auto),
        onnxruntime: None,
    };
    BTreeMap::from([
        ("orin-nano".to_string(), jetson("Jetson Orin Nano (6 Cortex-A78AE cores)", 2)),
        ("orin-nx".to_string(), jetson("Jetson Orin NX (8 Cortex-A78AE cores)", 4)),
        ("orin-agx".to_string(), jetson("Jetson AGX Orin (12 Cortex-A78AE cores)", 4)),
        (
            "host".to_string(),
            Profile {
                description: Some("a development machine: tract on one thread".into()),
                port: None,
                baud: Some(DEFAULT_BAUD),
                threads: Some(1),
                backend: Some(BackendChoice::Tract),
                onnxruntime: None,
            },
        ),
    ])
}

/// Settings given on the command line; `None` defers to the file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    pub profile: Option<String>,
    pub bundle: Option<PathBuf>,
    pub overlay: Option<PathBuf>,
    pub port: Option<PathBuf>,
    pub baud: Option<u32>,
    pub threads: Option<usize>,
    pub backend: Option<BackendChoice>,
    pub onnxruntime: Option<PathBuf>,
    pub queue_windows: Option<usize>,
    pub udp: Option<String>,
    pub stdout: Option<StdoutFormat>,
    /// More trusted keys (files or hex), after the configuration's.
    pub trusted_keys: Vec<String>,
    pub allow_unsigned: bool,
    pub slots: Option<PathBuf>,
    pub trial_windows: Option<u64>,
    pub monitor_socket: Option<PathBuf>,
    pub reconstruction: Option<ReconstructionModeSetting>,
    pub reconstruction_threshold: Option<f64>,
    /// The bundle to run when neither the command line, the configuration nor slots name one: the default bundle
    /// on the binary's search path (`board/README.md`, "Installing"), if one was found there.
    pub default_bundle: Option<PathBuf>,
}

/// Default windows a trial bundle runs without error before it is confirmed: about 10 s of one body at 30 Hz with
/// the default stride.
pub const DEFAULT_TRIAL_WINDOWS: u64 = 100;

/// Everything `skelact run` needs, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSettings {
    pub profile: Option<String>,
    pub bundle: PathBuf,
    pub overlay: Option<PathBuf>,
    /// Where frames come in (and events go back).
    pub port: LinkAddress,
    /// The serial port's baud rate; a socket ignores it.
    pub baud: u32,
    pub threads: usize,
    pub backend: BackendChoice,
    /// The onnxruntime library, when given; otherwise searched.
    pub onnxruntime: Option<PathBuf>,
    pub queue_windows: usize,
    pub status_interval_ms: u64,
    pub events_to_link: bool,
    pub udp: Option<String>,
    pub stdout: StdoutFormat,
    pub gpio: Vec<GpioLine>,
    pub trust: TrustPolicy,
    /// The slot directory, when the device runs A/B slots; `bundle` is then the factory bundle, run only while no
    /// slot is bootable.
    pub slots: Option<PathBuf>,
    pub trial_windows: u64,
    /// The monitor's socket, when it is served, and its snapshot period.
    pub monitor_socket: Option<PathBuf>,
    pub monitor_interval_ms: u64,
    /// REC's mode, and its threshold when set (else the bundle's).
    pub reconstruction_mode: ReconstructionMode,
    pub reconstruction_threshold: Option<f32>,
}

/// Why a configuration could not be read or resolved. Each names the file or the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Trust(#[from] TrustError),
}

impl ConfigFile {
    /// Reads a file; relative paths in it become relative to its folder.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let mut config: ConfigFile =
            toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.to_path_buf(), source })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let anchor = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(bundle) = config.bundle.as_mut() {
            anchor(bundle);
        }
        if let Some(overlay) = config.overlay.as_mut() {
            anchor(overlay);
        }
        if let Some(dir) = config.slots.dir.as_mut() {
            anchor(dir);
        }
        if let Some(socket) = config.monitor.socket.as_mut() {
            anchor(socket);
        }
        for profile in config.profiles.values_mut() {
            if let Some(library) = profile.onnxruntime.as_mut() {
                anchor(library);
            }
        }
        for key in &mut config.trust.keys {
            if TrustedKey::parse(key, Path::new("")).is_err() {
                *key = base.join(&*key).to_string_lossy().into_owned();
            }
        }
        Ok(config)
    }

    /// The trusted keys of the file and the command line, and whether unsigned bundles may run.
    pub fn trust_policy(&self, overrides: &Overrides) -> Result<TrustPolicy, ConfigError> {
        let mut keys = Vec::new();
        for entry in self.trust.keys.iter().chain(&overrides.trusted_keys) {
            keys.push(TrustedKey::parse(entry, Path::new(""))?);
        }
        Ok(TrustPolicy { keys, allow_unsigned: overrides.allow_unsigned || self.trust.allow_unsigned.unwrap_or(false) })
    }

    /// Merges the file, a profile and the command line into the settings of a run.
    pub fn resolve(&self, overrides: &Overrides) -> Result<RunSettings, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid(reason);
        let mut profiles = builtin_profiles();
        for (name, profile) in &self.profiles {
            let merged = match profiles.get(name) {
                Some(builtin) => Profile {
                    description: profile.description.clone().or(builtin.description.clone()),
                    port: profile.port.clone().or(builtin.port.clone()),
                    baud: profile.baud.or(builtin.baud),
                    threads: profile.threads.or(builtin.threads),
                    backend: profile.backend.or(builtin.backend),
                    onnxruntime: profile.onnxruntime.clone().or(builtin.onnxruntime.clone()),
                },
                None => profile.clone(),
            };
            profiles.insert(name.clone(), merged);
        }
        let profile_name = overrides.profile.clone().or(self.profile.clone());
        let profile = match &profile_name {
            Some(name) => profiles.get(name).cloned().ok_or_else(|| {
                invalid(format!(
                    "no profile {name:?}; known: {}",
                    profiles.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
            })?,
            None => Profile::default(),
        };
        let slots = overrides.slots.clone().or(self.slots.dir.clone());
        // With slots, the bundle is only the factory fallback, so it may be absent.
        let bundle =
            match (overrides.bundle.clone().or(self.bundle.clone()), &slots) {
                (Some(bundle), _) => bundle,
                (None, Some(_)) => PathBuf::new(),
                (None, None) => match &overrides.default_bundle {
                    Some(found) => found.clone(),
                    None => return Err(invalid(
                        "no bundle: give --bundle FILE, --slots DIR or `bundle = ...` in the config (no default.skb \
                         was found on the search path either)"
                            .into(),
                    )),
                },
            };
        let trust = self.trust_policy(overrides)?;
        let trial_windows = in_range(
            "trial_windows",
            overrides.trial_windows.or(self.slots.trial_windows).unwrap_or(DEFAULT_TRIAL_WINDOWS),
        )?;
        let port = overrides.port.clone().or(profile.port.clone()).ok_or_else(|| {
            invalid("no serial port: give --port DEV, a profile with a port, or `port = ...` in a profile".into())
        })?;
        let port = LinkAddress::parse(&port).map_err(|e| invalid(format!("port: {e}")))?;
        let threads = overrides.threads.or(profile.threads).unwrap_or(1);
        in_range("threads", threads as u64)?;
        let queue_windows = overrides.queue_windows.or(self.daemon.queue_windows).unwrap_or(2);
        in_range("queue_windows", queue_windows as u64)?;
        let status_interval_ms = in_range("status_interval_ms", self.daemon.status_interval_ms.unwrap_or(1000))?;
        let baud = overrides.baud.or(profile.baud).unwrap_or(DEFAULT_BAUD);
        in_range("baud", u64::from(baud))?;
        for (i, line) in self.gpio.iter().enumerate() {
            if self.gpio[..i].iter().any(|other| other.action == line.action) {
                return Err(invalid(format!("gpio: action {} has two lines", line.action)));
            }
        }
        Ok(RunSettings {
            profile: profile_name,
            bundle,
            overlay: overrides.overlay.clone().or(self.overlay.clone()),
            port,
            baud,
            threads,
            backend: overrides.backend.or(profile.backend).unwrap_or_default(),
            onnxruntime: overrides.onnxruntime.clone().or(profile.onnxruntime.clone()),
            queue_windows,
            status_interval_ms,
            events_to_link: self.daemon.events_to_link.unwrap_or(true),
            udp: overrides.udp.clone().or(self.daemon.udp.clone()),
            stdout: overrides.stdout.or(self.daemon.stdout).unwrap_or(StdoutFormat::Json),
            gpio: self.gpio.clone(),
            trust,
            slots,
            trial_windows,
            monitor_socket: overrides.monitor_socket.clone().or(self.monitor.socket.clone()),
            monitor_interval_ms: in_range("interval_ms", self.monitor.interval_ms.unwrap_or(200))?,
            reconstruction_mode: overrides
                .reconstruction
                .or(self.reconstruction.mode)
                .unwrap_or(ReconstructionModeSetting::Auto)
                .into(),
            reconstruction_threshold: overrides
                .reconstruction_threshold
                .or(self.reconstruction.threshold)
                .map(|t| fraction("reconstruction threshold", t))
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
profile = "orin-nx"
bundle = "models/default.skb"

[daemon]
queue_windows = 3
udp = "127.0.0.1:9000"

[profiles.orin-nx]
port = "/dev/ttyTHS0"
baud = 460800

[profiles.lab]
port = "/dev/ttyUSB0"
threads = 1
backend = "tract"

[[gpio]]
action = 23
chip = "/dev/gpiochip0"
line = 105
"#;

    #[test]
    fn profiles_merge_over_the_builtins_and_the_command_line_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("skelact.toml");
        std::fs::write(&path, EXAMPLE).unwrap();
        let config = ConfigFile::read(&path).unwrap();
        let settings = config.resolve(&Overrides::default()).unwrap();
        assert_eq!(settings.bundle, dir.path().join("models/default.skb"));
        assert_eq!(settings.port, LinkAddress::Serial("/dev/ttyTHS0".into()));
        assert_eq!((settings.baud, settings.threads, settings.backend), (460800, 4, BackendChoice::Auto));
        assert_eq!((settings.queue_windows, settings.udp.as_deref()), (3, Some("127.0.0.1:9000")));
        assert_eq!(
            settings.gpio,
            vec![GpioLine { action: 23, chip: "/dev/gpiochip0".into(), line: 105, active_low: false }]
        );

        let overrides = Overrides { profile: Some("lab".into()), baud: Some(115200), ..Overrides::default() };
        let lab = config.resolve(&overrides).unwrap();
        assert_eq!(
            (lab.port.to_string(), lab.baud, lab.threads, lab.backend),
            ("/dev/ttyUSB0".to_string(), 115200, 1, BackendChoice::Tract)
        );

        let unknown = config.resolve(&Overrides { profile: Some("tx2".into()), ..Overrides::default() });
        assert!(unknown.unwrap_err().to_string().contains("orin-nano"));
    }

    #[test]
    fn the_shipped_example_config_is_valid() {
        let mut config: ConfigFile = toml::from_str(include_str!("../../dist/skelact.toml")).unwrap();
        assert_eq!(config.trust.keys, ["/etc/skelact/keys/fleet.pub"]);
        assert_eq!(config.slots.dir.as_deref(), Some(Path::new("/var/lib/skelact/slots")));
        assert_eq!(config.monitor.socket.as_deref(), Some(Path::new("/run/skelact/monitor.sock")));
        // The key file exists only on a device; a key given inline stands in for it here.
        config.trust.keys = vec!["ab".repeat(32)];
        let settings = config.resolve(&Overrides::default()).unwrap();
        assert_eq!((settings.trust.keys.len(), settings.trust.allow_unsigned, settings.trial_windows), (1, false, 100));
        let error = ConfigFile {
            trust: TrustSection { keys: vec!["/nowhere.pub".into()], ..TrustSection::default() },
            ..config.clone()
        }
        .resolve(&Overrides::default())
        .unwrap_err()
        .to_string();
        assert!(error.contains("/nowhere.pub"), "{error}");
        assert_eq!(settings.profile.as_deref(), Some("orin-nano"));
        assert_eq!((settings.port.to_string(), settings.threads), ("/dev/ttyACM0".to_string(), 2));
        let nx = config.resolve(&Overrides { profile: Some("orin-nx".into()), ..Overrides::default() }).unwrap();
        assert_eq!((nx.threads, nx.baud, nx.backend), (4, DEFAULT_BAUD, BackendChoice::Auto));
    }

    #[test]
    fn numbers_out_of_range_are_refused_naming_the_key() {
        let config = ConfigFile {
            bundle: Some("b.skb".into()),
            profile: Some("lab".into()),
            profiles: BTreeMap::from([(
                "lab".to_string(),
                Profile { port: Some("/dev/ttyUSB0".into()), ..Profile::default() },
            )]),
            ..ConfigFile::default()
        };
        let refused = |overrides: Overrides, config: &ConfigFile| config.resolve(&overrides).unwrap_err().to_string();
        let error = refused(Overrides { queue_windows: Some(100_000_000), ..Overrides::default() }, &config);
        assert_eq!(error, "queue_windows = 100000000 is out of range: 1 to 1024");
        assert!(refused(Overrides { baud: Some(0), ..Overrides::default() }, &config).starts_with("baud = 0"));
        assert!(refused(Overrides { threads: Some(0), ..Overrides::default() }, &config).starts_with("threads = 0"));
        let slow = ConfigFile {
            daemon: DaemonSection { status_interval_ms: Some(u64::MAX), ..DaemonSection::default() },
            ..config.clone()
        };
        assert!(refused(Overrides::default(), &slow).starts_with("status_interval_ms = 18446744073709551615"));
        // The edges are allowed.
        let edge = Overrides { queue_windows: Some(1024), baud: Some(1200), threads: Some(64), ..Overrides::default() };
        assert!(config.resolve(&edge).is_ok());
    }

    #[test]
    fn the_port_may_name_a_udp_address_or_a_unix_socket() {
        let config = ConfigFile { bundle: Some("b.skb".into()), ..ConfigFile::default() };
        let port = |port: &str| config.resolve(&Overrides { port: Some(port.into()), ..Overrides::default() });
        assert_eq!(port("udp://127.0.0.1:5005").unwrap().port, LinkAddress::Udp("127.0.0.1:5005".parse().unwrap()));
        assert_eq!(
            port("unix:///run/skelact/ingest.sock").unwrap().port,
            LinkAddress::Unix("/run/skelact/ingest.sock".into())
        );
        let error = port("udp://127.0.0.1").unwrap_err().to_string();
        assert!(error.starts_with("port: \"udp://127.0.0.1\" is not udp://HOST:PORT"), "{error}");
        assert!(port("unix://relative.sock").unwrap_err().to_string().contains("unix:///ABSOLUTE/PATH"));
    }

    #[test]
    fn reconstruction_settings_resolve_and_bad_ones_are_refused() {
        let base = ConfigFile { bundle: Some("b.skb".into()), ..ConfigFile::default() };
        let with_port = |overrides: Overrides| Overrides { port: Some("/dev/ttyUSB0".into()), ..overrides };
        let defaults = base.resolve(&with_port(Overrides::default())).unwrap();
        assert_eq!((defaults.reconstruction_mode, defaults.reconstruction_threshold), (ReconstructionMode::Auto, None));
        let file: ConfigFile =
            toml::from_str("bundle = \"b.skb\"\n[reconstruction]\nmode = \"on\"\nthreshold = 0.2\n").unwrap();
        let settings = file.resolve(&with_port(Overrides::default())).unwrap();
        assert_eq!(
            (settings.reconstruction_mode, settings.reconstruction_threshold),
            (ReconstructionMode::On, Some(0.2))
        );
        // The command line wins.
        let overrides = Overrides {
            reconstruction: Some(ReconstructionModeSetting::Off),
            reconstruction_threshold: Some(0.5),
            ..Overrides::default()
        };
        let settings = file.resolve(&with_port(overrides)).unwrap();
        assert_eq!(
            (settings.reconstruction_mode, settings.reconstruction_threshold),
            (ReconstructionMode::Off, Some(0.5))
        );
        // Values that are no fraction or no mode are refused, naming the key.
        for bad in [1.5, -0.1, f64::NAN] {
            let overrides = Overrides { reconstruction_threshold: Some(bad), ..Overrides::default() };
            let error = base.resolve(&with_port(overrides)).unwrap_err().to_string();
            assert!(error.starts_with("reconstruction threshold = "), "{error}");
            assert!(error.ends_with("is out of range: a missing fraction, 0 to 1"), "{error}");
        }
        let error = toml::from_str::<ConfigFile>("[reconstruction]\nmode = \"sometimes\"\n").unwrap_err().to_string();
        assert!(error.contains("sometimes") && error.contains("auto"), "{error}");
        let error = toml::from_str::<ConfigFile>("[reconstruction]\nthreshhold = 0.1\n").unwrap_err().to_string();
        assert!(error.contains("threshhold"), "{error}");
    }

    #[test]
    fn typos_are_refused_not_ignored() {
        let error = toml::from_str::<ConfigFile>("[daemon]\nqueue_window = 2\n").unwrap_err().to_string();
        assert!(error.contains("queue_window"), "{error}");
        let missing_port =
            ConfigFile { bundle: Some("b.skb".into()), ..ConfigFile::default() }.resolve(&Overrides::default());
        assert!(missing_port.unwrap_err().to_string().contains("--port"));
    }
}
