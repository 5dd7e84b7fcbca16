//! `cargo xtask keygen` and `cargo xtask sign`: Ed25519 keys for a fleet, and bundles signed with them
//! (`docs/bundle.md`, "Signatures, versions and self-tests"; `board/README.md` for key handling on devices).
//!
//! A private key file is the key's 32-byte seed in hex under a header line, readable by its owner only; the
//! public key file is what devices list in their `[trust] keys`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use ed25519_dalek::{Signer as _, SigningKey};
use skelact_runtime::bundle::{sign, with_version, Bundle, PRIVATE_KEY_FILE_HEADER, PUBLIC_KEY_FILE_HEADER};

pub(crate) const KEYGEN_USAGE: &str =
    "usage: cargo xtask keygen NAME [--out DIR]   (writes DIR/NAME.key and DIR/NAME.pub; DIR defaults to .)";
pub(crate) const SIGN_USAGE: &str =
    "usage: cargo xtask sign BUNDLE --key FILE.key [--version N] [--signer NAME] [--out FILE]   (default: in place)";

/// `keygen NAME [--out DIR]`.
pub fn keygen(args: &[String]) -> Result<()> {
    let (name, dir) = match args {
        [name] => (name, PathBuf::from(".")),
        [name, flag, dir] if flag == "--out" => (name, PathBuf::from(dir)),
        _ => bail!(KEYGEN_USAGE),
    };
    ensure!(!name.starts_with('-'), "{KEYGEN_USAGE}");
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness from the operating system: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let private = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    ensure!(!private.exists(), "{} exists: refusing to overwrite a private key", private.display());
    write_private(&private, &format!("{PRIVATE_KEY_FILE_HEADER}\n{}\n", hex::encode(seed)))?;
    let public_text = format!("{PUBLIC_KEY_FILE_HEADER}\n{}\n", hex::encode(key.verifying_key().to_bytes()));
    fs::write(&public, public_text).with_context(|| format!("could not write {}", public.display()))?;
    eprintln!(
        "xtask: wrote {} (keep it secret) and {} (list it in the devices' [trust] keys)",
        private.display(),
        public.display()
    );
    Ok(())
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("could not create {}", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("could not write {}", path.display()))
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("could not write {}", path.display()))
}

/// The signing key of a private key file.
pub fn read_private_key(path: &Path) -> Result<SigningKey> {
    let text = fs::read_to_string(path).with_context(|| format!("could not read {}", path.display()))?;
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    ensure!(
        lines.next() == Some(PRIVATE_KEY_FILE_HEADER),
        "{} is not a private key file (its first line must be {PRIVATE_KEY_FILE_HEADER:?})",
        path.display()
    );
    let mut seed = [0u8; 32];
    hex::decode_to_slice(lines.next().unwrap_or(""), &mut seed)
        .with_context(|| format!("{}: the key is not 32 bytes of hex", path.display()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// `sign BUNDLE --key FILE [--version N] [--signer NAME] [--out FILE]`.
pub fn sign_command(args: &[String]) -> Result<()> {
    let mut bundle = None;
    let (mut key, mut version, mut signer, mut out) = (None, None, None, None);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().with_context(|| format!("{arg} needs a value\n{SIGN_USAGE}"));
        match arg.as_str() {
            "--key" => key = Some(PathBuf::from(value()?)),
            "--version" => version = Some(value()?.parse::<u64>().context("--version: not a whole number")?),
            "--signer" => signer = Some(value()?),
            "--out" => out = Some(PathBuf::from(value()?)),
            "--help" | "-h" => {
                println!("{SIGN_USAGE}");
                return Ok(());
            }
            other if bundle.is_none() && !other.starts_with('-') => bundle = Some(PathBuf::from(other)),
            other => bail!("unexpected argument {other:?}\n{SIGN_USAGE}"),
        }
    }
    let (Some(bundle), Some(key_path)) = (bundle, key) else { bail!(SIGN_USAGE) };
    let key = read_private_key(&key_path)?;
    let signer = signer
        .unwrap_or_else(|| key_path.file_stem().map_or_else(|| "unnamed".into(), |s| s.to_string_lossy().into_owned()));
    let bytes = fs::read(&bundle).with_context(|| format!("could not read {}", bundle.display()))?;
    let signed = sign_bytes(&bytes, &key, &signer, version)?;
    let out = out.unwrap_or(bundle);
    fs::write(&out, &signed).with_context(|| format!("could not write {}", out.display()))?;
    let parsed = Bundle::parse(&signed).map_err(|e| anyhow::anyhow!("{e}"))?;
    eprintln!("xtask: signed {} as {signer:?}, version {} ({} bytes)", out.display(), parsed.version(), signed.len());
    Ok(())
}

/// The bundle, at `version` if given, signed by `key` as `signer`.
pub fn sign_bytes(bytes: &[u8], key: &SigningKey, signer: &str, version: Option<u64>) -> Result<Vec<u8>> {
    let versioned = match version {
        Some(v) => with_version(bytes, v).map_err(|e| anyhow::anyhow!("not a bundle: {e}"))?,
        None => bytes.to_vec(),
    };
    sign(&versioned, signer, key.verifying_key().to_bytes(), |message| key.sign(message).to_bytes())
        .map_err(|e| anyhow::anyhow!("cannot sign: {e}"))
}
