//! `skelact run`: the daemon on a serial port, a UDP address or a Unix-domain socket.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use skelact_device::config::{ConfigFile, Overrides, ReconstructionModeSetting, RunSettings, StdoutFormat};
use skelact_device::daemon::monitor::MonitorOptions;
use skelact_device::daemon::outputs::{LineFormat, Outputs};
use skelact_device::daemon::{self, DaemonControl, DaemonOptions, DaemonSummary};
use skelact_device::health;
use skelact_device::model::{BackendChoice, BundleFile, EngineOptions, LoadedModel, OverlayChoice};
use skelact_device::slots::{self, SlotError, SlotName, Slots};
use skelact_links::gpio::ActionPins;
use skelact_links::reconnect::{Backoff, ReconnectingReader};
use skelact_links::LinkOpener;
use skelact_runtime::bundle::Bundle;
use skelact_runtime::reconstruct::ReconstructionMode;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// TOML configuration with device profiles (see board/README.md).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Device profile: orin-nano, orin-nx, orin-agx, host, or one defined in the config.
    #[arg(long)]
    pub profile: Option<String>,
    /// Model bundle (.skb) [default: `bundle` in the config, else default.skb on the search path (board/README.md,
    /// "Installing")].
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Enrollment overlay to load (default: NAME.overlay.json next to the bundle, if present).
    #[arg(long, conflicts_with = "no_overlay")]
    pub overlay: Option<PathBuf>,
    /// Ignore any enrollment overlay.
    #[arg(long)]
    pub no_overlay: bool,
    /// Where frames come in: the sensor's serial port, e.g. /dev/ttyACM0 (reopened whenever it goes away); or
    /// udp://HOST:PORT to bind and read datagrams; or unix:///PATH to listen on a Unix-domain socket.
    #[arg(long, value_name = "PORT")]
    pub port: Option<PathBuf>,
    /// Baud rate (ignored by USB CDC-ACM).
    #[arg(long)]
    pub baud: Option<u32>,
    /// Inference threads (tract).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Inference backend.
    #[arg(long, value_enum)]
    pub backend: Option<BackendChoice>,
    /// The onnxruntime library (libonnxruntime.so), where the search does not find it.
    #[arg(long, value_name = "FILE")]
    pub onnxruntime: Option<PathBuf>,
    /// Windows that may wait for inference before the oldest is dropped.
    #[arg(long)]
    pub queue_windows: Option<usize>,
    /// Also send each event as a JSON datagram to HOST:PORT.
    #[arg(long)]
    pub udp: Option<String>,
    /// Event lines on stdout.
    #[arg(long, value_enum)]
    pub stdout: Option<StdoutFormat>,
    /// Trust bundles signed by this key (a public key file from `cargo xtask keygen`, or 64 hex digits); repeatable.
    #[arg(long = "trusted-key", value_name = "KEY")]
    pub trusted_keys: Vec<String>,
    /// Run unsigned bundles (development only; a bundle whose signature fails is refused even so).
    #[arg(long)]
    pub allow_unsigned: bool,
    /// Run the A/B model slots in DIR (`skelact install` writes them); --bundle is then the factory fallback.
    #[arg(long, value_name = "DIR")]
    pub slots: Option<PathBuf>,
    /// Windows a trial bundle must run without error before it is confirmed.
    #[arg(long)]
    pub trial_windows: Option<u64>,
    /// Serve status snapshots for `skelact monitor` on this Unix socket (mode 0660).
    #[arg(long, value_name = "PATH")]
    pub monitor_socket: Option<PathBuf>,
    /// REC, the bundle's reconstruction model for missing joints: auto (windows whose missing fraction is above the
    /// threshold), on (every window with a missing joint) or off [default: `[reconstruction] mode`, else auto].
    #[arg(long, value_enum, value_name = "MODE")]
    pub reconstruction: Option<ReconstructionModeSetting>,
    /// The missing fraction (0 to 1) above which REC runs in auto mode [default: `[reconstruction] threshold`,
    /// else the bundle's].
    #[arg(long, value_name = "F")]
    pub reconstruction_threshold: Option<f64>,
}

impl RunArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            profile: self.profile.clone(),
            bundle: self.bundle.clone(),
            overlay: self.overlay.clone(),
            port: self.port.clone(),
            baud: self.baud,
            threads: self.threads,
            backend: self.backend,
            onnxruntime: self.onnxruntime.clone(),
            queue_windows: self.queue_windows,
            udp: self.udp.clone(),
            stdout: self.stdout,
            trusted_keys: self.trusted_keys.clone(),
            allow_unsigned: self.allow_unsigned,
            slots: self.slots.clone(),
            trial_windows: self.trial_windows,
            monitor_socket: self.monitor_socket.clone(),
            reconstruction: self.reconstruction,
            reconstruction_threshold: self.reconstruction_threshold,
            default_bundle: super::search_path::bundle(None).ok(),
        }
    }
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    // SIGHUP reloads: the daemon stops as for SIGTERM (queued windows finished, open segments closed, final status),
    // then the configuration and the bundle are read again and it starts over on the same port. A reload that
    // fails (a bad new bundle or configuration) ends the process with that error, as a start would.
    loop {
        let config = match &args.config {
            Some(path) => ConfigFile::read(path)?,
            None => ConfigFile::default(),
        };
        let settings = config.resolve(&args.overrides())?;
        let overlay = match (&settings.overlay, args.no_overlay) {
            (_, true) => OverlayChoice::Ignore,
            (Some(path), false) => OverlayChoice::File(path.clone()),
            (None, false) => OverlayChoice::BesideBundle,
        };
        let chosen = choose_bundle(&settings)?;
        let model = LoadedModel::open(&chosen.file, &overlay)?;
        let outputs = outputs_for(&settings, &model)?;
        let opener = settings.port.opener(settings.baud);
        let _pid = chosen.slots.as_ref().map(|slots| PidFile::write(slots.dir()));
        let (summary, stop) = serve(&model, &settings, opener, &outputs, chosen.trial())?;
        if summary.frames == 0 {
            tracing::warn!(port = %settings.port, "no frame arrived");
        }
        match stop {
            Stop::Exit => return Ok(()),
            Stop::Reload => tracing::info!("SIGHUP: reloading the configuration and the bundle"),
            Stop::TrialFailed => {
                tracing::warn!("the trial bundle failed its health check; going back to the last good one")
            }
        }
    }
}

/// The bundle a start runs, verified, and the slot it came from.
struct Chosen {
    file: BundleFile,
    slots: Option<Slots>,
    /// The slot on trial, if the bundle is one.
    trial_slot: Option<SlotName>,
    trial_windows: u64,
}

impl Chosen {
    fn trial(&self) -> Option<Trial> {
        let (slots, slot) = (self.slots.as_ref()?, self.trial_slot?);
        Some(Trial { dir: slots.dir().to_path_buf(), slot, windows: self.trial_windows })
    }
}

/// With slots: the slot to boot (a trial once, else the active one), failing and skipping any whose file does not
/// match its record or whose signature the device does not trust, then the factory bundle. Without: the bundle.
fn choose_bundle(settings: &RunSettings) -> anyhow::Result<Chosen> {
    let Some(dir) = &settings.slots else {
        let file = verified_bundle(&settings.bundle, None, settings)?;
        return Ok(Chosen { file, slots: None, trial_slot: None, trial_windows: 0 });
    };
    let mut slots = Slots::open(dir)?;
    loop {
        match slots.boot() {
            Ok(boot) => match verified_bundle(&boot.path, Some(&boot.record.sha256), settings) {
                Ok(file) => {
                    tracing::info!(slot = %boot.slot, trial = boot.trial, version = boot.record.version, "booting slot");
                    let trial_slot = boot.trial.then_some(boot.slot);
                    return Ok(Chosen { file, slots: Some(slots), trial_slot, trial_windows: settings.trial_windows });
                }
                Err(error) => {
                    let reason = format!("{error:#}");
                    tracing::warn!(slot = %boot.slot, %reason, "slot refused; falling back");
                    slots.fail(boot.slot, &reason)?;
                }
            },
            Err(SlotError::NothingToBoot { .. }) if !settings.bundle.as_os_str().is_empty() => {
                tracing::warn!(bundle = %settings.bundle.display(), "no bootable slot; running the factory bundle");
                let file = verified_bundle(&settings.bundle, None, settings)?;
                return Ok(Chosen { file, slots: Some(slots), trial_slot: None, trial_windows: 0 });
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Reads a bundle and checks it: its SHA-256 against `expected` (a slot's record), its signature against the
/// trust policy.
fn verified_bundle(path: &Path, expected: Option<&str>, settings: &RunSettings) -> anyhow::Result<BundleFile> {
    let file = BundleFile::read(path)?;
    if let Some(expected) = expected {
        let actual = slots::sha256_hex(file.as_bytes());
        anyhow::ensure!(actual == expected, "{}: SHA-256 {actual} is not the installed {expected}", path.display());
    }
    {
        let bundle = Bundle::parse(file.as_bytes()).with_context(|| format!("{} refused", path.display()))?;
        let signer = settings.trust.check(&bundle).with_context(|| format!("{} refused", path.display()))?;
        tracing::info!(bundle = %path.display(), version = bundle.version(), %signer, "bundle trusted");
    }
    Ok(file)
}

/// A bundle on trial: confirmed in `dir` after `windows` windows without error, failed at the first error.
#[derive(Clone, Debug)]
pub struct Trial {
    pub dir: PathBuf,
    pub slot: SlotName,
    pub windows: u64,
}

/// `daemon.pid` in the slot directory while the daemon serves it, so that `skelact install` can ask it to reload.
struct PidFile(PathBuf);

impl PidFile {
    fn write(dir: &Path) -> Option<PidFile> {
        let result = slots::write_atomically(dir, slots::PID_FILE, std::process::id().to_string().as_bytes());
        if let Err(error) = &result {
            tracing::warn!(%error, "cannot write the pid file; `skelact install` will not reload this daemon");
        }
        result.ok().map(|()| PidFile(dir.join(slots::PID_FILE)))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Why the daemon stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT or SIGTERM, or the link ended.
    Exit,
    /// SIGHUP: read the configuration and the bundle again and start over.
    Reload,
    /// The bundle on trial failed its health check (marked failed): start over with the last good one.
    TrialFailed,
}

/// The outputs a run's settings ask for: stdout lines, UDP, GPIO lines.
pub fn outputs_for(settings: &RunSettings, model: &LoadedModel) -> anyhow::Result<Outputs> {
    let labels = model.labels.iter().map(|l| l.name.clone()).collect();
    let mut outputs = Outputs::new(labels);
    outputs = match settings.stdout {
        StdoutFormat::Json => outputs.with_lines(Box::new(std::io::stdout()), LineFormat::Json),
        StdoutFormat::Text => outputs.with_lines(Box::new(std::io::stdout()), LineFormat::Text),
        StdoutFormat::Off => outputs,
    };
    if let Some(udp) = &settings.udp {
        let target: SocketAddr = udp
            .to_socket_addrs()
            .with_context(|| format!("--udp {udp}: not HOST:PORT"))?
            .next()
            .with_context(|| format!("--udp {udp}: no address"))?;
        outputs = outputs.with_udp(target).with_context(|| format!("cannot open a UDP socket for {target}"))?;
    }
    if !settings.gpio.is_empty() {
        outputs = outputs.with_pins(gpio_pins(settings, model)?);
    }
    Ok(outputs)
}

#[cfg(target_os = "linux")]
fn gpio_pins(settings: &RunSettings, model: &LoadedModel) -> anyhow::Result<ActionPins> {
    use skelact_links::gpio::{CdevPin, HalLine};
    let mut pins = ActionPins::new();
    for line in &settings.gpio {
        if !model.labels.iter().any(|l| l.action_id == line.action) {
            tracing::warn!(action = line.action, "a GPIO line is configured for an action the model does not have");
        }
        let pin = CdevPin::request(&line.chip, line.line, line.active_low)?;
        pins.add(line.action, Box::new(HalLine(pin))).map_err(anyhow::Error::msg)?;
        tracing::info!(action = line.action, chip = %line.chip.display(), line = line.line, "GPIO line ready");
    }
    Ok(pins)
}

#[cfg(not(target_os = "linux"))]
fn gpio_pins(_settings: &RunSettings, _model: &LoadedModel) -> anyhow::Result<ActionPins> {
    anyhow::bail!("GPIO lines need the Linux GPIO character device")
}

/// Builds the pipeline from the model and runs the daemon on `opener`'s link until SIGINT, SIGTERM or SIGHUP
/// (which asks for a reload).
pub fn serve<O: LinkOpener>(
    model: &LoadedModel,
    settings: &RunSettings,
    opener: O,
    outputs: &Outputs,
    trial: Option<Trial>,
) -> anyhow::Result<(DaemonSummary, Stop)> {
    let engine_options = EngineOptions {
        backend: settings.backend,
        threads: settings.threads,
        onnxruntime: settings.onnxruntime.clone(),
        ..EngineOptions::default()
    };
    let mut engines = model.engines(&engine_options)?;
    let mut rec_input = Vec::new();
    let (policy, reconstruction) = model.reconstruction(
        &engine_options,
        &engines.joint,
        settings.reconstruction_mode,
        settings.reconstruction_threshold,
        &mut rec_input,
    )?;
    match &reconstruction {
        Some(_) => {
            tracing::info!(mode = policy.mode().name(), threshold = policy.threshold(), "reconstruction (REC) enabled")
        }
        None if policy.mode() == ReconstructionMode::On => tracing::warn!(
            "reconstruction is on, but the bundle has no reconstruction model: missing joints stay interpolated"
        ),
        None => {}
    }
    if let Some(trial) = &trial {
        // The first part of a trial's health check: the bundle's own windows through this device's engine.
        if let Err(error) = health::self_test(&model.bundle, &mut engines.joint) {
            tracing::warn!(slot = %trial.slot, %error, "trial bundle failed its self-test");
            Slots::open(&trial.dir)?.fail(trial.slot, &error.to_string())?;
            return Ok((DaemonSummary::default(), Stop::TrialFailed));
        }
        tracing::info!(slot = %trial.slot, windows = trial.windows, "self-test passed; on trial until that many windows run without error");
    }
    let mut store = model.head_store(0);
    let classifier = model.classifier(&mut store, engines)?;
    let options = DaemonOptions {
        queue_windows: settings.queue_windows,
        status_interval: Duration::from_millis(settings.status_interval_ms),
        events_to_link: settings.events_to_link,
        monitor: settings.monitor_socket.as_ref().map(|socket| MonitorOptions {
            interval: Duration::from_millis(settings.monitor_interval_ms),
            unknown_threshold: model.bundle.manifest().decision_config().unknown_threshold,
            ..MonitorOptions::new(socket.clone())
        }),
        ..DaemonOptions::default()
    };
    tracing::info!(
        bundle = %settings.bundle.display(),
        model = %model.model_name(),
        labels = model.labels.len(),
        port = %opener.describe(),
        profile = settings.profile.as_deref().unwrap_or("-"),
        threads = settings.threads,
        "starting"
    );
    let mut reader = ReconnectingReader::new(opener, Backoff::default(), 4096);
    let control = DaemonControl::new();
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]).context("cannot install signal handlers")?;
    let handle = signals.handle();
    let reload = std::sync::atomic::AtomicBool::new(false);
    let trial_failed = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            if let Some(signal) = signals.forever().next() {
                tracing::info!(signal, "stopping");
                reload.store(signal == SIGHUP, std::sync::atomic::Ordering::SeqCst);
                control.stop();
            }
        });
        if let Some(trial) = &trial {
            scope.spawn(|| {
                if let Err(error) = watch_trial(trial, &control, &trial_failed) {
                    tracing::error!(%error, "cannot record the trial's outcome");
                }
            });
        }
        let result = model.frontend_config().map_err(anyhow::Error::from).and_then(|frontend| {
            Ok(daemon::run_with_reconstruction(
                &mut reader,
                frontend,
                model.raw_frames,
                classifier,
                reconstruction,
                outputs,
                &options,
                &control,
            )?)
        });
        handle.close();
        control.stop();
        let stop = if trial_failed.load(std::sync::atomic::Ordering::SeqCst) {
            Stop::TrialFailed
        } else if reload.load(std::sync::atomic::Ordering::SeqCst) {
            Stop::Reload
        } else {
            Stop::Exit
        };
        result.map(|summary| (summary, stop))
    })
}

/// The rest of a trial's health check, while the daemon runs: confirmed after `trial.windows` windows without
/// error, failed (and the daemon stopped, to start over on the last good bundle) at the first window that fails.
/// A trial the daemon stops before either is neither: the next start finds it booted and rolls it back.
fn watch_trial(
    trial: &Trial,
    control: &DaemonControl,
    failed: &std::sync::atomic::AtomicBool,
) -> Result<(), SlotError> {
    while !control.is_stopping() {
        let (run, errors) = control.windows();
        if errors > 0 {
            tracing::warn!(slot = %trial.slot, windows_run = run, "a window failed during the trial; rolling back");
            Slots::open(&trial.dir)?.fail(trial.slot, "a window failed to classify during the trial")?;
            failed.store(true, std::sync::atomic::Ordering::SeqCst);
            control.stop();
            return Ok(());
        }
        if run >= trial.windows {
            Slots::open(&trial.dir)?.confirm(trial.slot)?;
            tracing::info!(slot = %trial.slot, windows_run = run, "trial bundle confirmed");
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
