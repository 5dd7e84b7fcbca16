//! `skelact run`: the daemon on a serial port.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use skelact_device::config::{ConfigFile, Overrides, RunSettings, StdoutFormat};
use skelact_device::daemon::outputs::{LineFormat, Outputs};
use skelact_device::daemon::{self, DaemonControl, DaemonOptions, DaemonSummary};
use skelact_device::model::{BackendChoice, BundleFile, EngineOptions, LoadedModel, OverlayChoice};
use skelact_links::gpio::ActionPins;
use skelact_links::reconnect::{Backoff, ReconnectingReader};
use skelact_links::serial::{SerialConfig, SerialOpener};
use skelact_links::LinkOpener;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// TOML configuration with device profiles (see board/README.md).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Device profile: orin-nano, orin-nx, orin-agx, host, or one defined in the config.
    #[arg(long)]
    pub profile: Option<String>,
    /// Model bundle (.skb).
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Enrollment overlay to load (default: NAME.overlay.json next to the bundle, if present).
    #[arg(long, conflicts_with = "no_overlay")]
    pub overlay: Option<PathBuf>,
    /// Ignore any enrollment overlay.
    #[arg(long)]
    pub no_overlay: bool,
    /// Serial port of the sensor, e.g. /dev/ttyACM0 (reopened whenever it goes away).
    #[arg(long)]
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
    /// Windows that may wait for inference before the oldest is dropped.
    #[arg(long)]
    pub queue_windows: Option<usize>,
    /// Also send each event as a JSON datagram to HOST:PORT.
    #[arg(long)]
    pub udp: Option<String>,
    /// Event lines on stdout.
    #[arg(long, value_enum)]
    pub stdout: Option<StdoutFormat>,
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
            queue_windows: self.queue_windows,
            udp: self.udp.clone(),
            stdout: self.stdout,
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
        let file = BundleFile::read(&settings.bundle)?;
        let model = LoadedModel::open(&file, &overlay)?;
        let outputs = outputs_for(&settings, &model)?;
        let opener = SerialOpener(SerialConfig::new(&settings.port, settings.baud));
        let (summary, stop) = serve(&model, &settings, opener, &outputs)?;
        if summary.frames == 0 {
            tracing::warn!(port = %settings.port.display(), "no frame arrived");
        }
        if stop != Stop::Reload {
            return Ok(());
        }
        tracing::info!("SIGHUP: reloading the configuration and the bundle");
    }
}

/// Why the daemon stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT or SIGTERM, or the link ended.
    Exit,
    /// SIGHUP: read the configuration and the bundle again and start over.
    Reload,
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
) -> anyhow::Result<(DaemonSummary, Stop)> {
    let engines = model.engines(&EngineOptions {
        backend: settings.backend,
        threads: settings.threads,
        ..EngineOptions::default()
    })?;
    let mut store = model.head_store(0);
    let classifier = model.classifier(&mut store, engines)?;
    let options = DaemonOptions {
        queue_windows: settings.queue_windows,
        status_interval: Duration::from_millis(settings.status_interval_ms),
        events_to_link: settings.events_to_link,
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
    std::thread::scope(|scope| {
        scope.spawn(|| {
            if let Some(signal) = signals.forever().next() {
                tracing::info!(signal, "stopping");
                reload.store(signal == SIGHUP, std::sync::atomic::Ordering::SeqCst);
                control.stop();
            }
        });
        let result = model.frontend_config().map_err(anyhow::Error::from).and_then(|frontend| {
            Ok(daemon::run(&mut reader, frontend, model.raw_frames, classifier, outputs, &options, &control)?)
        });
        handle.close();
        let stop = if reload.load(std::sync::atomic::Ordering::SeqCst) { Stop::Reload } else { Stop::Exit };
        result.map(|summary| (summary, stop))
    })
}
