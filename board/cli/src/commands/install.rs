//! `skelact install` and `skelact slots`: a new bundle into the inactive A/B slot, on trial until the daemon's
//! health check confirms it (`skelact_device::slots`), and what the slots hold.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde_json::json;
use skelact_device::config::{ConfigFile, Overrides};
use skelact_device::health;
use skelact_device::model::{BackendChoice, BundleFile, EngineOptions, LoadedModel, OverlayChoice};
use skelact_device::slots::{self, InstallInfo, SlotName, SlotState, Slots};

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The bundle (.skb) to install.
    pub bundle: PathBuf,
    /// TOML configuration: its [trust] keys and [slots] dir.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The slot directory (default: `[slots] dir` of the configuration).
    #[arg(long, value_name = "DIR")]
    pub slots: Option<PathBuf>,
    /// Trust bundles signed by this key (a public key file or 64 hex digits); repeatable.
    #[arg(long = "trusted-key", value_name = "KEY")]
    pub trusted_keys: Vec<String>,
    /// Install an unsigned bundle (development only).
    #[arg(long)]
    pub allow_unsigned: bool,
    /// Install a version older than the last confirmed one.
    #[arg(long)]
    pub allow_downgrade: bool,
    /// The backend the self-test runs on (the daemon runs it again on its own backend when the trial starts).
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Do not ask a running daemon to reload into the new bundle.
    #[arg(long)]
    pub no_reload: bool,
}

#[derive(Debug, Args)]
pub struct SlotsArgs {
    /// TOML configuration with a [slots] dir.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The slot directory.
    #[arg(long, value_name = "DIR")]
    pub slots: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

fn slot_dir(config: &ConfigFile, given: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    given
        .cloned()
        .or(config.slots.dir.clone())
        .context("no slot directory: give --slots DIR or `[slots] dir = ...` in the configuration")
}

fn read_config(path: Option<&PathBuf>) -> anyhow::Result<ConfigFile> {
    Ok(match path {
        Some(path) => ConfigFile::read(path)?,
        None => ConfigFile::default(),
    })
}

pub fn install(args: InstallArgs) -> anyhow::Result<()> {
    let config = read_config(args.config.as_ref())?;
    let dir = slot_dir(&config, args.slots.as_ref())?;
    let policy = config.trust_policy(&Overrides {
        trusted_keys: args.trusted_keys.clone(),
        allow_unsigned: args.allow_unsigned,
        ..Overrides::default()
    })?;
    let file = BundleFile::read(&args.bundle)?;
    let model = LoadedModel::open(&file, &OverlayChoice::Ignore)?;
    let refused = || format!("{} refused", args.bundle.display());
    let signer = policy.check(&model.bundle).with_context(refused)?;
    let mut engines =
        model.engines(&EngineOptions { backend: args.backend, ..EngineOptions::default() }).with_context(refused)?;
    let report = health::self_test(&model.bundle, &mut engines.joint).with_context(refused)?;
    println!("self-test passed: {report}");
    let info = InstallInfo {
        version: model.bundle.version(),
        sha256: slots::sha256_hex(file.as_bytes()),
        model: model.model_name().to_string(),
        signer: signer.to_string(),
    };
    let mut slots = Slots::open(&dir)?;
    let slot = slots.install(file.as_bytes(), info, args.allow_downgrade).with_context(refused)?;
    println!(
        "installed {} version {} ({signer}) into slot {slot} of {}, on trial",
        model.model_name(),
        model.bundle.version(),
        dir.display()
    );
    if args.no_reload {
        println!("start or reload the daemon (systemctl reload skelact) to try it");
    } else {
        ask_daemon_to_reload(&dir);
    }
    Ok(())
}

/// Sends SIGHUP to the daemon serving `dir`, if one is running.
fn ask_daemon_to_reload(dir: &std::path::Path) {
    let pid = std::fs::read_to_string(dir.join(slots::PID_FILE)).ok().and_then(|t| t.trim().parse::<i32>().ok());
    let Some(pid) = pid else {
        println!("no daemon is serving these slots; the next start tries the new bundle");
        return;
    };
    match super::ask_to_reload(pid) {
        Ok(()) => println!("asked the daemon (pid {pid}) to reload into it"),
        Err(error) => println!("cannot signal the daemon (pid {pid}: {error}); reload it to try the new bundle"),
    }
}

pub fn show(args: SlotsArgs) -> anyhow::Result<()> {
    let config = read_config(args.config.as_ref())?;
    let dir = slot_dir(&config, args.slots.as_ref())?;
    let slots = Slots::open(&dir)?;
    let state = slots.state();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json!({"dir": dir.display().to_string(), "state": state}))?);
        return Ok(());
    }
    println!("slots {} (anti-rollback floor: version {})", dir.display(), state.min_version);
    for slot in [SlotName::A, SlotName::B] {
        let record = state.slot(slot);
        let mut role = Vec::new();
        if state.active == Some(slot) {
            role.push("active");
        }
        if state.trial == Some(slot) {
            role.push("on trial");
        }
        let condition = match &record.state {
            SlotState::Empty => "empty".to_string(),
            SlotState::Writing => "incomplete (an install was cut off)".to_string(),
            SlotState::Trial { boots } => format!("trial ({boots} boot{})", if *boots == 1 { "" } else { "s" }),
            SlotState::Confirmed => "confirmed".to_string(),
            SlotState::Failed { reason } => format!("failed: {reason}"),
        };
        let role = if role.is_empty() { String::new() } else { format!(" [{}]", role.join(", ")) };
        println!("  {slot}{role}: {condition}");
        if !matches!(record.state, SlotState::Empty | SlotState::Writing) {
            let short = record.sha256.get(..16).unwrap_or(&record.sha256);
            println!("     {} version {}, signed by {}, sha256 {short}…", record.model, record.version, record.signer);
        }
    }
    Ok(())
}
