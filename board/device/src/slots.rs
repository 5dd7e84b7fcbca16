//! A/B model slots: a new bundle is written beside the running one, booted on trial, and kept only when the
//! daemon confirms it healthy; otherwise the device goes back to the bundle it ran before. The same scheme as
//! MCUboot's test swap or RAUC's A/B slots, for model bundles.
//!
//! A slot directory holds `a.skb`, `b.skb` and `slots.json`, the state. Every write is atomic: a temporary file,
//! fsync, rename, fsync of the directory. So a power cut at any byte leaves either the old state or the new one,
//! and the state never names a slot file it has not finished writing:
//!
//! 1. `install` marks the inactive slot `writing` (never booted), writes its file, then marks it `trial`.
//! 2. The next start boots a `trial` slot once: the state records the boot first. If the daemon confirms it
//!    (self-test passed, then N windows without error), it becomes `confirmed` and active.
//! 3. A trial slot found already booted at start means the daemon died during the trial: it is marked `failed`
//!    and the active slot boots instead. So does a trial that fails its health check.
//! 4. Every boot checks the slot file's SHA-256 against the state; a damaged file fails its slot, and the other
//!    slot boots if it was confirmed.
//!
//! The anti-rollback floor (`min_version`) is the version of the last confirmed bundle; `install` refuses a lower
//! version unless told to allow a downgrade.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The name of the state file in a slot directory.
pub const STATE_FILE: &str = "slots.json";
/// The file in which a daemon serving the slots writes its process id, so that `install` can ask it to reload.
pub const PID_FILE: &str = "daemon.pid";

/// One of the two slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlotName {
    A,
    B,
}

impl SlotName {
    pub fn other(self) -> SlotName {
        match self {
            SlotName::A => SlotName::B,
            SlotName::B => SlotName::A,
        }
    }

    pub fn file_name(self) -> &'static str {
        match self {
            SlotName::A => "a.skb",
            SlotName::B => "b.skb",
        }
    }
}

impl std::fmt::Display for SlotName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SlotName::A => "a",
            SlotName::B => "b",
        })
    }
}

/// Where a slot is in its life.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum SlotState {
    /// Nothing installed.
    #[default]
    Empty,
    /// `install` is writing the file (or was cut off doing so): never booted.
    Writing,
    /// Installed, waiting for its health check; `boots` counts the starts that tried it (at most one).
    Trial { boots: u32 },
    /// Passed its health check.
    Confirmed,
    /// Failed its health check, or the daemon died during its trial; `reason` says which.
    Failed { reason: String },
}

/// What a slot holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRecord {
    #[serde(flatten)]
    pub state: SlotState,
    #[serde(default)]
    pub version: u64,
    /// SHA-256 of the slot file, in hex: checked at every boot.
    #[serde(default)]
    pub sha256: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub signer: String,
    /// Seconds since the Unix epoch at install.
    #[serde(default)]
    pub installed_unix_s: u64,
}

/// The contents of `slots.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotsState {
    /// The confirmed slot a start boots when no trial is pending.
    pub active: Option<SlotName>,
    /// The slot waiting for its health check.
    pub trial: Option<SlotName>,
    /// The anti-rollback floor: `install` refuses lower versions unless allowed.
    pub min_version: u64,
    pub a: SlotRecord,
    pub b: SlotRecord,
}

impl SlotsState {
    pub fn slot(&self, name: SlotName) -> &SlotRecord {
        match name {
            SlotName::A => &self.a,
            SlotName::B => &self.b,
        }
    }

    fn slot_mut(&mut self, name: SlotName) -> &mut SlotRecord {
        match name {
            SlotName::A => &mut self.a,
            SlotName::B => &mut self.b,
        }
    }
}

/// What a bundle to install is, as the caller checked it (signature, self-test) before handing it over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallInfo {
    pub version: u64,
    pub sha256: String,
    pub model: String,
    pub signer: String,
}

/// The slot a start should run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Boot {
    pub slot: SlotName,
    pub path: PathBuf,
    /// The slot is on trial: confirm it when healthy, fail it otherwise.
    pub trial: bool,
    pub record: SlotRecord,
}

/// Why a slot operation failed. Each message names the directory or the slot.
#[derive(Debug, thiserror::Error)]
pub enum SlotError {
    #[error("slot directory {dir}: {source}")]
    Io { dir: PathBuf, source: std::io::Error },
    #[error("slot state {path} is damaged ({reason}); it is only ever replaced atomically, so something else wrote it: restore it, or remove the directory and install again")]
    Damaged { path: PathBuf, reason: String },
    #[error("version {version} is older than the installed floor {floor} (anti-rollback); pass --allow-downgrade to install it anyway")]
    Downgrade { version: u64, floor: u64 },
    #[error("no bootable slot in {dir}: install a bundle with `skelact install`")]
    NothingToBoot { dir: PathBuf },
}

/// A slot directory and its state.
#[derive(Debug)]
pub struct Slots {
    dir: PathBuf,
    state: SlotsState,
}

impl Slots {
    /// Opens `dir`, creating it (empty) if it does not exist.
    pub fn open(dir: &Path) -> Result<Self, SlotError> {
        let io = |source| SlotError::Io { dir: dir.to_path_buf(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join(STATE_FILE);
        let state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| SlotError::Damaged { path: path.clone(), reason: e.to_string() })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => SlotsState::default(),
            Err(e) => return Err(io(e)),
        };
        Ok(Slots { dir: dir.to_path_buf(), state })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn state(&self) -> &SlotsState {
        &self.state
    }

    pub fn path_of(&self, slot: SlotName) -> PathBuf {
        self.dir.join(slot.file_name())
    }

    /// The slot an install writes: the one not active.
    pub fn inactive(&self) -> SlotName {
        self.state.active.map_or(SlotName::A, SlotName::other)
    }

    /// Writes `bytes` into the inactive slot and marks it for trial at the next start.
    pub fn install(&mut self, bytes: &[u8], info: InstallInfo, allow_downgrade: bool) -> Result<SlotName, SlotError> {
        if info.version < self.state.min_version && !allow_downgrade {
            return Err(SlotError::Downgrade { version: info.version, floor: self.state.min_version });
        }
        let slot = self.inactive();
        *self.state.slot_mut(slot) = SlotRecord { state: SlotState::Writing, ..SlotRecord::default() };
        if self.state.trial == Some(slot) {
            self.state.trial = None;
        }
        self.save()?;
        write_atomically(&self.dir, slot.file_name(), bytes)?;
        let installed_unix_s = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        *self.state.slot_mut(slot) = SlotRecord {
            state: SlotState::Trial { boots: 0 },
            version: info.version,
            sha256: info.sha256,
            model: info.model,
            signer: info.signer,
            installed_unix_s,
        };
        self.state.trial = Some(slot);
        self.save()?;
        Ok(slot)
    }

    /// The slot this start runs. A pending trial is booted once (recorded before it runs); one found already
    /// booted failed its trial by dying, and is failed here. Then the active confirmed slot.
    pub fn boot(&mut self) -> Result<Boot, SlotError> {
        if let Some(slot) = self.state.trial {
            match self.state.slot(slot).state {
                SlotState::Trial { boots: 0 } => {
                    self.state.slot_mut(slot).state = SlotState::Trial { boots: 1 };
                    self.save()?;
                    return Ok(self.boot_of(slot, true));
                }
                SlotState::Trial { .. } => {
                    tracing::warn!(%slot, "the daemon stopped during this slot's trial; rolling back");
                    self.fail(slot, "the daemon stopped or crashed during the trial, before its health check passed")?;
                }
                _ => {
                    self.state.trial = None;
                    self.save()?;
                }
            }
        }
        match self.state.active {
            Some(slot) if self.state.slot(slot).state == SlotState::Confirmed => Ok(self.boot_of(slot, false)),
            _ => Err(SlotError::NothingToBoot { dir: self.dir.clone() }),
        }
    }

    fn boot_of(&self, slot: SlotName, trial: bool) -> Boot {
        Boot { slot, path: self.path_of(slot), trial, record: self.state.slot(slot).clone() }
    }

    /// The trial slot passed its health check: it becomes active, and its version the anti-rollback floor.
    pub fn confirm(&mut self, slot: SlotName) -> Result<(), SlotError> {
        let record = self.state.slot_mut(slot);
        record.state = SlotState::Confirmed;
        self.state.min_version = record.version;
        self.state.active = Some(slot);
        self.state.trial = None;
        self.save()
    }

    /// Marks `slot` failed. When it was the active slot (its file is damaged), the other one becomes active if it
    /// was confirmed.
    pub fn fail(&mut self, slot: SlotName, reason: &str) -> Result<(), SlotError> {
        self.state.slot_mut(slot).state = SlotState::Failed { reason: reason.to_string() };
        if self.state.trial == Some(slot) {
            self.state.trial = None;
        }
        if self.state.active == Some(slot) {
            let other = slot.other();
            self.state.active = (self.state.slot(other).state == SlotState::Confirmed).then_some(other);
        }
        self.save()
    }

    fn save(&self) -> Result<(), SlotError> {
        let text = serde_json::to_vec_pretty(&self.state)
            .map_err(|e| SlotError::Io { dir: self.dir.clone(), source: std::io::Error::other(e) })?;
        write_atomically(&self.dir, STATE_FILE, &text)
    }
}

/// Replaces `dir/name` with `bytes` so that a power cut leaves the old file or the new one, never a mix: write a
/// temporary file beside it, fsync it, rename it over the old one, fsync the directory (which makes the rename
/// itself durable).
pub fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), SlotError> {
    let io = |source| SlotError::Io { dir: dir.to_path_buf(), source };
    let temporary = dir.join(format!(".{name}.tmp"));
    let mut file = File::create(&temporary).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&temporary, dir.join(name)).map_err(io)?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(io)
}

/// SHA-256 of a file's bytes, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(version: u64, bytes: &[u8]) -> InstallInfo {
        InstallInfo { version, sha256: sha256_hex(bytes), model: "m".into(), signer: "s".into() }
    }

    #[test]
    fn a_trial_is_booted_once_and_confirmed_or_rolled_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut slots = Slots::open(dir.path()).unwrap();
        assert!(matches!(slots.boot(), Err(SlotError::NothingToBoot { .. })));

        // First install: slot a on trial, booted, confirmed.
        assert_eq!(slots.install(b"one", info(1, b"one"), false).unwrap(), SlotName::A);
        let boot = slots.boot().unwrap();
        assert_eq!((boot.slot, boot.trial), (SlotName::A, true));
        assert_eq!(std::fs::read(&boot.path).unwrap(), b"one");
        slots.confirm(SlotName::A).unwrap();
        let reopened = Slots::open(dir.path()).unwrap().boot().unwrap();
        assert_eq!((reopened.slot, reopened.trial, reopened.record.state), (SlotName::A, false, SlotState::Confirmed));

        // Second install goes to b; the daemon dies during its trial; the next start rolls back to a.
        assert_eq!(slots.install(b"two", info(2, b"two"), false).unwrap(), SlotName::B);
        let mut restarted = Slots::open(dir.path()).unwrap();
        assert_eq!(restarted.boot().unwrap().slot, SlotName::B);
        let mut after_crash = Slots::open(dir.path()).unwrap();
        let boot = after_crash.boot().unwrap();
        assert_eq!((boot.slot, boot.trial), (SlotName::A, false));
        assert!(matches!(&after_crash.state().b.state, SlotState::Failed { reason } if reason.contains("crashed")));

        // A health check that fails rolls back too; a new version then installs into b again and is confirmed.
        after_crash.install(b"three", info(3, b"three"), false).unwrap();
        let boot = after_crash.boot().unwrap();
        after_crash.fail(boot.slot, "self-test failed").unwrap();
        assert_eq!(after_crash.boot().unwrap().slot, SlotName::A);
        after_crash.install(b"four", info(4, b"four"), false).unwrap();
        assert_eq!(after_crash.boot().unwrap().slot, SlotName::B);
        after_crash.confirm(SlotName::B).unwrap();
        assert_eq!((after_crash.state().active, after_crash.state().min_version), (Some(SlotName::B), 4));
        // The next install overwrites the old confirmed slot, a, never the running one.
        assert_eq!(after_crash.inactive(), SlotName::A);
    }

    #[test]
    fn older_versions_are_refused_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let mut slots = Slots::open(dir.path()).unwrap();
        slots.install(b"five", info(5, b"five"), false).unwrap();
        slots.boot().unwrap();
        slots.confirm(SlotName::A).unwrap();
        let error = slots.install(b"four", info(4, b"four"), false).unwrap_err();
        assert!(matches!(error, SlotError::Downgrade { version: 4, floor: 5 }), "{error}");
        assert!(error.to_string().contains("--allow-downgrade"));
        assert_eq!(slots.state().b, SlotRecord::default(), "a refused install writes nothing");
        slots.install(b"five again", info(5, b"five again"), false).unwrap();
        slots.install(b"four", info(4, b"four"), true).unwrap();
    }

    #[test]
    fn a_damaged_active_slot_falls_back_to_the_other_confirmed_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut slots = Slots::open(dir.path()).unwrap();
        for (bytes, slot) in [(&b"one"[..], SlotName::A), (&b"two"[..], SlotName::B)] {
            slots.install(bytes, info(1, bytes), false).unwrap();
            slots.boot().unwrap();
            slots.confirm(slot).unwrap();
        }
        slots.fail(SlotName::B, "its file is damaged").unwrap();
        assert_eq!(slots.boot().unwrap().slot, SlotName::A);
        slots.fail(SlotName::A, "its file is damaged").unwrap();
        assert!(matches!(slots.boot(), Err(SlotError::NothingToBoot { .. })));
    }

    #[test]
    fn a_damaged_state_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_FILE), b"{\"active\": ").unwrap();
        let error = Slots::open(dir.path()).unwrap_err().to_string();
        assert!(error.contains("slots.json") && error.contains("damaged"), "{error}");
    }
}
