//! Enrollment overlays: exemplars learned on the device, kept in a file next to the bundle.
//!
//! A bundle is sealed (its SHA-256 trailer covers every byte), so what `skelact enroll` learns goes into a
//! separate JSON file, `NAME.overlay.json` beside `NAME.skb`. It holds new labels (appended after the bundle's
//! own, so the bundle's label indices never move) and exemplar embeddings for the prototype head, each for a label
//! of the bundle or of the overlay. `run`, `demo` and `bench` load it at start. It names the bundle's checksum: an
//! overlay made for another bundle is refused, because its embeddings come from another encoder.
//!
//! With a text-aligned bundle it also holds labels typed as words (`skelact labels add`): each prompt's embedding
//! by the bundle's text encoder, which becomes one more row of the linear head. Text labels come right after the
//! bundle's labels, enrolled labels after them.
//!
//! ```json
//! {"format": "skelact-overlay", "version": 1, "bundle_sha256": "4f1c…", "model_name": "stars-small-64", "dim": 64,
//!  "labels": [{"name": "bow", "action_id": 1001}],
//!  "exemplars": [{"label": "bow", "embedding": [0.01, …], "source": "bow.skr 2.00-4.50 s"}]}
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const FORMAT: &str = "skelact-overlay";
/// Default of [`Overlay::min_similarity`], measured on the default model (docs in board/README.md).
pub const DEFAULT_MIN_SIMILARITY: f32 = 0.9;
pub const VERSION: u32 = 1;

/// A label the overlay adds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlayLabel {
    pub name: String,
    pub action_id: u16,
}

/// One enrolled example: its label's name and its embedding (the encoder output for one window).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exemplar {
    pub label: String,
    pub embedding: Vec<f32>,
    /// Where the example came from, for people (file and time range, or the live port).
    #[serde(default)]
    pub source: String,
}

/// A label typed as words: the prompt, and its embedding by the bundle's text encoder (unit length).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextLabel {
    pub name: String,
    pub action_id: u16,
    pub prompt: String,
    pub embedding: Vec<f32>,
}

/// The whole overlay file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Overlay {
    pub format: String,
    pub version: u32,
    /// Hex SHA-256 trailer of the bundle the embeddings were computed with.
    pub bundle_sha256: String,
    pub model_name: String,
    /// Embedding length.
    pub dim: usize,
    /// With a linear-head bundle: the cosine similarity to an enrolled exemplar from which a window counts as that
    /// enrolled action (default [`DEFAULT_MIN_SIMILARITY`]). Prototype-head bundles use their own threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_similarity: Option<f32>,
    /// With a linear-head bundle: neighbours that vote among the enrolled exemplars (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<u16>,
    /// With a linear-head bundle: the mean embedding of every window `enroll` has seen. The encoder's embeddings
    /// share a large common component (cosines between different actions are above 0.9 on the default model), so
    /// similarities are taken after subtracting it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub center: Option<Vec<f32>>,
    /// Windows averaged into `center`.
    #[serde(default)]
    pub center_windows: u64,
    /// With a linear-head bundle: per enrolled label, the centred cosine similarity from which a window counts as
    /// that label, calibrated by `enroll` on the recording's other windows (`min_similarity` for labels without).
    #[serde(default)]
    pub thresholds: std::collections::BTreeMap<String, f32>,
    #[serde(default)]
    pub labels: Vec<OverlayLabel>,
    #[serde(default)]
    pub exemplars: Vec<Exemplar>,
    /// Labels typed as words (text-aligned bundles only), in the order their rows follow the bundle's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub text_labels: Vec<TextLabel>,
    /// With labels typed as words: the trained classes' top probability below which a window goes to the typed
    /// labels (the novelty gate, [`skelact_runtime::head::typed_behind_gate`]). Absent: the typed rows compete with
    /// the trained ones directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typed_gate: Option<f32>,
    /// Behind the gate: the typed labels are ranked by the bundle's TDSM scorer (lowest error takes the window)
    /// instead of by cosine. Needs `typed_gate` and a bundle that carries a scorer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rank_typed_by_tdsm: bool,
}

/// Why an overlay cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path} is not an overlay: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("{path} was enrolled with bundle {overlay}, not this bundle ({bundle}): its embeddings come from another model; enroll again or remove the file")]
    WrongBundle { path: PathBuf, overlay: String, bundle: String },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Overlay {
    /// An empty overlay for the bundle with checksum `bundle_sha256`.
    pub fn new(bundle_sha256: &[u8; 32], model_name: &str, dim: usize) -> Self {
        Overlay {
            format: FORMAT.into(),
            version: VERSION,
            bundle_sha256: hex(bundle_sha256),
            model_name: model_name.into(),
            dim,
            min_similarity: None,
            k: None,
            center: None,
            center_windows: 0,
            thresholds: std::collections::BTreeMap::new(),
            labels: Vec::new(),
            exemplars: Vec::new(),
            text_labels: Vec::new(),
            typed_gate: None,
            rank_typed_by_tdsm: false,
        }
    }

    /// `NAME.overlay.json` next to `NAME.skb`.
    pub fn path_for(bundle: &Path) -> PathBuf {
        bundle.with_extension("overlay.json")
    }

    /// Reads an overlay and checks that it belongs to the bundle with checksum `bundle_sha256`. The labels and
    /// exemplars are checked against the bundle's labels by [`crate::model`] when it builds the head.
    pub fn read(path: &Path, bundle_sha256: &[u8; 32], dim: usize) -> Result<Self, OverlayError> {
        let text = std::fs::read_to_string(path).map_err(|source| OverlayError::Read { path: path.into(), source })?;
        let overlay: Overlay = serde_json::from_str(&text)
            .map_err(|e| OverlayError::Parse { path: path.into(), reason: e.to_string() })?;
        if overlay.format != FORMAT || overlay.version != VERSION {
            return Err(OverlayError::Parse {
                path: path.into(),
                reason: format!(
                    "format {:?} version {}, expected {FORMAT:?} version {VERSION}",
                    overlay.format, overlay.version
                ),
            });
        }
        let bundle = hex(bundle_sha256);
        if overlay.bundle_sha256 != bundle {
            return Err(OverlayError::WrongBundle { path: path.into(), overlay: overlay.bundle_sha256, bundle });
        }
        let invalid = |reason: String| OverlayError::Invalid { path: path.into(), reason };
        if overlay.dim != dim {
            return Err(invalid(format!("embeddings of {} values, the model's are {dim}", overlay.dim)));
        }
        if overlay.min_similarity.is_some_and(|s| !(-1.0..=1.0).contains(&s)) {
            return Err(invalid("min_similarity must be in -1..=1".into()));
        }
        if overlay.k.is_some_and(|k| k == 0 || usize::from(k) > skelact_runtime::head::DEFAULT_MAX_K) {
            return Err(invalid(format!("k must be in 1..={}", skelact_runtime::head::DEFAULT_MAX_K)));
        }
        if overlay.center.as_ref().is_some_and(|c| c.len() != dim || !c.iter().all(|v| v.is_finite())) {
            return Err(invalid(format!("center is not {dim} finite values")));
        }
        if overlay.thresholds.values().any(|t| !(-1.0..=1.0).contains(t)) {
            return Err(invalid("thresholds must be in -1..=1".into()));
        }
        for (i, exemplar) in overlay.exemplars.iter().enumerate() {
            if exemplar.embedding.len() != dim || !exemplar.embedding.iter().all(|v| v.is_finite()) {
                return Err(invalid(format!("exemplar {i} is not {dim} finite values")));
            }
        }
        for label in &overlay.text_labels {
            let finite = label.embedding.iter().all(|v| v.is_finite());
            if label.embedding.len() != dim || !finite || label.embedding.iter().all(|v| *v == 0.0) {
                return Err(invalid(format!("text label {:?} is not {dim} finite values, not all zero", label.name)));
            }
        }
        Ok(overlay)
    }

    /// Folds `count` more windows whose embeddings sum to `sum` into the centre.
    pub fn add_to_center(&mut self, sum: &[f64], count: u64) {
        if count == 0 {
            return;
        }
        let old = self.center_windows as f64;
        let total = old + count as f64;
        let center = self.center.get_or_insert_with(|| vec![0.0; sum.len()]);
        for (c, s) in center.iter_mut().zip(sum) {
            *c = ((f64::from(*c) * old + s) / total) as f32;
        }
        self.center_windows += count;
    }

    /// Writes the overlay atomically (a temporary file beside it, then a rename), so that a device starting
    /// meanwhile reads the old or the new file, never half of one.
    pub fn write(&self, path: &Path) -> Result<(), OverlayError> {
        let write_error = |source| OverlayError::Write { path: path.into(), source };
        let text = serde_json::to_string_pretty(self).map_err(|e| write_error(std::io::Error::other(e)))?;
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        std::fs::write(&temporary, text + "\n").map_err(write_error)?;
        std::fs::rename(&temporary, path).map_err(write_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overlay_round_trips_and_is_bound_to_its_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("model.skb");
        let path = Overlay::path_for(&bundle);
        assert_eq!(path.file_name().unwrap(), "model.overlay.json");
        let mut overlay = Overlay::new(&[7; 32], "m", 3);
        overlay.labels.push(OverlayLabel { name: "bow".into(), action_id: 1001 });
        overlay.exemplars.push(Exemplar { label: "bow".into(), embedding: vec![0.0, 1.0, 0.5], source: "x".into() });
        overlay.write(&path).unwrap();
        assert_eq!(Overlay::read(&path, &[7; 32], 3).unwrap(), overlay);
        let wrong = Overlay::read(&path, &[8; 32], 3).unwrap_err().to_string();
        assert!(wrong.contains(&hex(&[7; 32])) && wrong.contains(&hex(&[8; 32])), "{wrong}");
        assert!(matches!(Overlay::read(&path, &[7; 32], 4), Err(OverlayError::Invalid { .. })));
        std::fs::write(&path, "{\"format\": 1}").unwrap();
        assert!(matches!(Overlay::read(&path, &[7; 32], 3), Err(OverlayError::Parse { .. })));
    }
}
