//! The bundle's own self-test: its reference windows through the engine this device will run, compared with the
//! outputs the reference computed when the bundle was made (`docs/bundle.md`, `SelfTest`). `skelact install`
//! runs it before writing a slot, and the daemon again before it serves a bundle on trial.

use skelact_runtime::bundle::{compare_outputs, Bundle, HeadSpec};
use skelact_runtime::engine::Engine;
use skelact_runtime::head::LinearHead;

/// What the self-test found.
#[derive(Clone, Debug, PartialEq)]
pub struct SelfTestReport {
    pub windows: u32,
    /// The lowest cosine between an output and its expected output, and the bundle's bound.
    pub worst_cosine: f32,
    pub min_cosine: f32,
    /// Windows whose top-1 label differs from the expected one (the model's logits, or the bundle's linear head
    /// over its embeddings; embeddings for other heads are compared by cosine alone).
    pub top1_mismatches: u32,
}

impl SelfTestReport {
    pub fn passed(&self) -> bool {
        self.top1_mismatches == 0 && self.worst_cosine >= self.min_cosine
    }
}

impl std::fmt::Display for SelfTestReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} self-test windows: worst cosine {:.4} (at least {:.4} needed), {} with another top-1",
            self.windows, self.worst_cosine, self.min_cosine, self.top1_mismatches
        )
    }
}

/// Why the self-test could not pass.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SelfTestError {
    #[error("the bundle has no self-test windows")]
    Missing,
    #[error("the engine takes {engine} input values, the self-test windows have {windows}")]
    Shape { engine: usize, windows: usize },
    #[error("the engine failed on self-test window {window}: {reason}")]
    Engine { window: u32, reason: String },
    #[error("self-test failed: {0}")]
    Failed(SelfTestReport),
}

/// Runs the bundle's self-test windows through `joint` (the joint stream's engine, which the windows are for).
pub fn self_test(bundle: &Bundle<'_>, joint: &mut impl Engine) -> Result<SelfTestReport, SelfTestError> {
    let test = bundle.self_test().ok_or(SelfTestError::Missing)?;
    if joint.input_len() != test.input_len as usize || joint.output_len() != test.output_len as usize {
        return Err(SelfTestError::Shape { engine: joint.input_len(), windows: test.input_len as usize });
    }
    let linear = match bundle.linear_head() {
        Some(Ok(head)) => Some(head),
        Some(Err(error)) => return Err(SelfTestError::Engine { window: 0, reason: error.to_string() }),
        None => None,
    };
    let logits_out = matches!(bundle.manifest().head, HeadSpec::Logits);
    let mut input = Vec::with_capacity(joint.input_len());
    let mut output = vec![0f32; joint.output_len()];
    let mut expected = vec![0f32; joint.output_len()];
    let mut report =
        SelfTestReport { windows: test.windows, worst_cosine: 1.0, min_cosine: test.min_cosine, top1_mismatches: 0 };
    for w in 0..test.windows {
        input.clear();
        input.extend(test.input(w as usize));
        joint.run(&input, &mut output).map_err(|e| SelfTestError::Engine { window: w, reason: e.to_string() })?;
        for (slot, value) in expected.iter_mut().zip(test.output(w as usize)) {
            *slot = value;
        }
        let (cosine, same_output_top1) = compare_outputs(expected.iter().copied(), &output);
        let same_label = match &linear {
            Some(head) => top_label(head, &expected) == top_label(head, &output),
            None => same_output_top1 || !logits_out,
        };
        report.worst_cosine = report.worst_cosine.min(cosine);
        report.top1_mismatches += u32::from(!same_label);
    }
    if report.passed() {
        Ok(report)
    } else {
        Err(SelfTestError::Failed(report))
    }
}

/// The label a linear head gives an embedding (None if the head refuses it).
fn top_label(head: &LinearHead<'_>, embedding: &[f32]) -> Option<usize> {
    let mut logits = vec![0f32; head.classes()];
    head.logits(embedding, &mut logits).ok()?;
    logits.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i)
}
