//! `skelact enroll`: learn an action from a few examples, into the bundle's overlay.
//!
//! Examples come from a recording (time ranges in seconds since its first frame, or the segments of a
//! ground-truth file) or live from a port (the person performs the action once per shot while it records).
//! Each example becomes one exemplar embedding; see [`skelact_device::enroll`].

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use skelact::scoring;
use skelact_device::enroll::{self, Example, Range};
use skelact_device::model::{
    first_free_action_id, head_name, BackendChoice, BundleFile, EngineOptions, LoadedModel, OverlayChoice,
};
use skelact_device::overlay::{Exemplar, Overlay, OverlayLabel};
use skelact_formats::{self as sources, InputFormat};
use skelact_links::reconnect::{Backoff, ReconnectingReader};
use skelact_links::serial::{SerialConfig, SerialOpener, DEFAULT_BAUD};
use skelact_runtime::bundle::{ExemplarStorage, HeadSpec};
use skelact_runtime::wire::Message;

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").args(["recording", "port"]).required(true)))]
pub struct EnrollArgs {
    /// Model bundle (.skb) with a prototype head, or a linear head as the default bundle has (enrolled actions are
    /// then checked before it); logits and text heads cannot take exemplars (`skelact info` names the head).
    #[arg(long)]
    pub bundle: PathBuf,
    /// The action's name: a label of the bundle (more examples of it) or a new one.
    #[arg(long)]
    pub label: String,
    /// Action id of a new label [default: the first free id from 1000].
    #[arg(long)]
    pub action_id: Option<u16>,
    /// Take the examples from this file: a protocol-v1 recording (.skr), NTU .skeleton, PKU-MMD .txt, session
    /// .jsonl, NW-UCLA .json or UTD-MHAD .mat.
    #[arg(long)]
    pub recording: Option<PathBuf>,
    /// An example's time range in seconds since the recording's first frame, e.g. 2.0-4.5 (repeat per example).
    #[arg(long = "range", value_parser = parse_range)]
    pub ranges: Vec<(f64, f64)>,
    /// Take the examples from a ground-truth segments file instead: every segment of class --label (or --class).
    #[arg(long, conflicts_with = "ranges")]
    pub segments: Option<PathBuf>,
    /// The class to take from --segments, when it is named differently from --label.
    #[arg(long, requires = "segments")]
    pub class: Option<String>,
    /// Use at most this many examples from --segments.
    #[arg(long, requires = "segments")]
    pub shots_max: Option<usize>,
    /// Record the examples live from this serial port instead.
    #[arg(long)]
    pub port: Option<PathBuf>,
    /// Baud rate of --port.
    #[arg(long, default_value_t = DEFAULT_BAUD)]
    pub baud: u32,
    /// Live: how many examples to record.
    #[arg(long, default_value_t = 3)]
    pub shots: usize,
    /// Live: seconds per example.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Live: seconds to get ready before each example.
    #[arg(long, default_value_t = 3.0)]
    pub countdown: f64,
    /// Only windows of this body id.
    #[arg(long)]
    pub body: Option<u32>,
    /// Forget the label's earlier enrolled exemplars first.
    #[arg(long)]
    pub replace: bool,
    /// Overlay file [default: NAME.overlay.json next to the bundle].
    #[arg(long)]
    pub overlay: Option<PathBuf>,
    /// Inference threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Linear-head bundles: cosine similarity to an enrolled exemplar from which a window counts as the enrolled
    /// action [default 0.9, kept in the overlay].
    #[arg(long)]
    pub min_similarity: Option<f32>,
    /// Linear-head bundles: neighbours voting among enrolled exemplars [default 1, kept in the overlay].
    #[arg(long)]
    pub k: Option<u16>,
}

fn parse_range(text: &str) -> Result<(f64, f64), String> {
    let (a, b) = text.split_once('-').ok_or_else(|| format!("{text:?} is not START-END in seconds"))?;
    let (a, b): (f64, f64) = (
        a.trim().parse().map_err(|_| format!("{a:?} is not a number"))?,
        b.trim().parse().map_err(|_| format!("{b:?} is not a number"))?,
    );
    if !(a.is_finite() && b.is_finite() && a >= 0.0 && b > a) {
        return Err(format!("{text:?}: need 0 <= START < END"));
    }
    Ok((a, b))
}

pub fn run(args: EnrollArgs) -> anyhow::Result<()> {
    let overlay_path = args.overlay.clone().unwrap_or_else(|| Overlay::path_for(&args.bundle));
    let file = BundleFile::read(&args.bundle)?;
    let model = LoadedModel::open(&file, &OverlayChoice::if_exists(&overlay_path))?;
    let bundle = &model.bundle;
    let manifest = bundle.manifest();
    if !model.can_enroll() {
        bail!(
            "{}: the head is {}; enrollment needs embeddings, i.e. a prototype or linear head",
            args.bundle.display(),
            head_name(&manifest.head)
        );
    }
    let (messages, ranges, source) =
        if let Some(port) = &args.port { live(&args, port)? } else { from_recording(&args)? };
    let mut engines = model.engines(&EngineOptions {
        backend: BackendChoice::Tract,
        threads: args.threads,
        ..EngineOptions::default()
    })?;
    let windows =
        enroll::embed_windows(model.frontend_config()?, model.raw_frames, &messages, args.body, &mut engines.joint)?;
    let examples = enroll::examples(&windows, &ranges)?;
    let linear = matches!(manifest.head, HeadSpec::Linear { .. });

    let mut overlay = model.overlay_to_edit();
    let existing = model.labels.iter().find(|l| l.name == args.label);
    match (existing, args.action_id) {
        (Some(label), Some(id)) if label.action_id != id => {
            bail!("label {:?} exists with action id {}, not {id}", label.name, label.action_id)
        }
        (Some(_), _) => {}
        (None, id) => {
            let action_id = match id {
                Some(id) => id,
                None => first_free_action_id(&model.labels).context("no free action id")?,
            };
            if let Some(clash) = model.labels.iter().find(|l| l.action_id == action_id) {
                bail!("action id {action_id} is taken by {:?}", clash.name);
            }
            overlay.labels.push(OverlayLabel { name: args.label.clone(), action_id });
        }
    }
    if let Some(similarity) = args.min_similarity {
        anyhow::ensure!((-1.0..=1.0).contains(&similarity), "--min-similarity must be in -1..=1");
        overlay.min_similarity = Some(similarity);
    }
    if let Some(k) = args.k {
        anyhow::ensure!((1..=16).contains(&k), "--k must be in 1..=16");
        overlay.k = Some(k);
    }
    if args.replace {
        let before = overlay.exemplars.len();
        overlay.exemplars.retain(|e| e.label != args.label);
        eprintln!("forgot {} earlier exemplar(s) of {:?}", before - overlay.exemplars.len(), args.label);
    }
    if linear {
        // The centre every similarity of a linear-head overlay is taken against: all windows seen so far.
        let mut sum = vec![0.0f64; model.output_len()];
        for w in &windows {
            for (s, v) in sum.iter_mut().zip(&w.embedding) {
                *s += f64::from(*v);
            }
        }
        overlay.add_to_center(&sum, windows.len() as u64);
    }
    let center = if linear { overlay.center.clone() } else { None };
    report_examples(&examples, &source, &model, bundle, &overlay, center.as_deref())?;
    for example in &examples {
        overlay.exemplars.push(Exemplar {
            label: args.label.clone(),
            embedding: example.embedding.clone(),
            source: format!(
                "{source} {:.2}-{:.2} s (window {:.2}-{:.2} s)",
                example.range.start_us as f64 / 1e6,
                example.range.end_us as f64 / 1e6,
                example.window.start_us as f64 / 1e6,
                example.window.end_us as f64 / 1e6
            ),
        });
    }
    if linear {
        calibrate(&mut overlay, &args.label, &windows, &ranges, args.min_similarity);
    }
    overlay.write(&overlay_path)?;
    let action_id =
        overlay.labels.iter().find(|l| l.name == args.label).map(|l| l.action_id).or(existing.map(|l| l.action_id));
    println!(
        "enrolled {} example(s) of {:?} (action {}) into {}; it now holds {} label(s) and {} exemplar(s)",
        examples.len(),
        args.label,
        action_id.map_or("?".into(), |id| id.to_string()),
        overlay_path.display(),
        overlay.labels.len(),
        overlay.exemplars.len()
    );
    Ok(())
}

type Examples = (Vec<Message>, Vec<Range>, String);

fn from_recording(args: &EnrollArgs) -> anyhow::Result<Examples> {
    let path = args.recording.as_ref().context("--recording or --port is required")?;
    let stream = sources::read_stream(path, InputFormat::detect(path, None)?)?;
    let messages = sources::decode(&stream);
    let first = enroll::first_timestamp(&messages).with_context(|| format!("{} holds no frames", path.display()))?;
    let ranges: Vec<Range> = if let Some(segments) = &args.segments {
        let class = args.class.as_deref().unwrap_or(&args.label);
        let mut ranges: Vec<Range> = scoring::read_ground_truth(segments)?
            .into_iter()
            .filter(|s| s.label == class && args.body.is_none_or(|b| b == s.body_id))
            .map(|s| Range { start_us: s.start_us, end_us: s.end_us })
            .collect();
        if let Some(max) = args.shots_max {
            ranges.truncate(max);
        }
        if ranges.is_empty() {
            bail!("{} has no segment of class {class:?}", segments.display());
        }
        ranges
    } else {
        if args.ranges.is_empty() {
            bail!(
                "give at least one --range START-END (seconds since the recording's first frame), or --segments FILE"
            );
        }
        args.ranges
            .iter()
            .map(|&(a, b)| Range { start_us: first + (a * 1e6) as u64, end_us: first + (b * 1e6) as u64 })
            .collect()
    };
    Ok((messages, ranges, path.display().to_string()))
}

/// Records `shots` examples from a port, each after a countdown, and returns the whole stream and each shot's
/// span in sensor time.
fn live(args: &EnrollArgs, port: &std::path::Path) -> anyhow::Result<Examples> {
    anyhow::ensure!(args.shots >= 1, "--shots must be at least 1");
    anyhow::ensure!(
        args.seconds > 0.0 && args.countdown >= 0.0,
        "--seconds must be positive and --countdown not negative"
    );
    let mut reader =
        ReconnectingReader::new(SerialOpener(SerialConfig::new(port, args.baud)), Backoff::default(), 4096);
    let mut messages = Vec::new();
    let mut ranges = Vec::new();
    for shot in 1..=args.shots {
        eprintln!("shot {shot}/{}: get ready to perform {:?} in {:.0} s", args.shots, args.label, args.countdown);
        capture(&mut reader, args.countdown, &mut messages);
        eprintln!("shot {shot}/{}: perform {:?} now ({:.1} s)", args.shots, args.label, args.seconds);
        let Some((start_us, end_us)) = capture(&mut reader, args.seconds, &mut messages) else {
            bail!("no frame arrived from {} during shot {shot}", port.display());
        };
        ranges.push(Range { start_us, end_us });
    }
    Ok((messages, ranges, format!("live {}", port.display())))
}

/// Sets the label's threshold between how alike its examples are and how alike the recording's other windows
/// (those overlapping no example range) are to them, all as centred cosines. `fixed` overrides the calibration.
fn calibrate(
    overlay: &mut Overlay,
    label: &str,
    windows: &[enroll::WindowEmbedding],
    ranges: &[Range],
    fixed: Option<f32>,
) {
    let center = overlay.center.clone();
    let center = center.as_deref();
    let exemplars: Vec<&[f32]> =
        overlay.exemplars.iter().filter(|e| e.label == label).map(|e| e.embedding.as_slice()).collect();
    let nearest = |embedding: &[f32], skip: Option<usize>| {
        exemplars
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != skip)
            .map(|(_, e)| enroll::centred_cosine(embedding, e, center))
            .fold(-1.0f64, f64::max)
    };
    let negatives = windows.iter().filter(|w| ranges.iter().all(|r| enroll::iou(&w.window, r) == 0.0));
    let (mut negative_max, mut negatives_seen) = (-1.0f64, 0);
    for w in negatives {
        negative_max = negative_max.max(nearest(&w.embedding, None));
        negatives_seen += 1;
    }
    let positive = (exemplars.len() >= 2)
        .then(|| (0..exemplars.len()).map(|i| nearest(exemplars[i], Some(i))).sum::<f64>() / exemplars.len() as f64);
    let threshold = match (fixed, positive) {
        (Some(fixed), _) => f64::from(fixed),
        (None, Some(p)) if p > negative_max => (negative_max + p) / 2.0,
        (None, _) => negative_max + 0.5 * (1.0 - negative_max),
    };
    eprintln!(
        "threshold for {label:?}: centred cosine {threshold:.3} ({negatives_seen} other windows reach {negative_max:.3}{})",
        positive.map_or(String::new(), |p| format!(", examples reach each other at {p:.3} on average"))
    );
    if positive.is_some_and(|p| p <= negative_max) {
        eprintln!("warning: the examples of {label:?} are no more alike than other windows are to them; the action may not be recognised reliably (are other performances of it in the recording outside the ranges?)");
    }
    if negatives_seen == 0 && fixed.is_none() {
        eprintln!(
            "warning: no window outside the ranges to calibrate against; give a longer recording or --min-similarity"
        );
    }
    overlay.thresholds.insert(label.to_string(), threshold.clamp(-1.0, 1.0) as f32);
}

/// Reads from the port for `seconds`, appending what decodes to `messages`; returns the sensor time span of the
/// frames read.
fn capture(
    reader: &mut ReconnectingReader<SerialOpener>,
    seconds: f64,
    messages: &mut Vec<Message>,
) -> Option<(u64, u64)> {
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let mut span: Option<(u64, u64)> = None;
    while Instant::now() < until {
        reader.poll(Duration::from_millis(20), |outcome| {
            if let Ok(message) = outcome {
                if let Message::Frame(frame) = message {
                    let (first, _) = span.unwrap_or((frame.timestamp_us, frame.timestamp_us));
                    span = Some((first, frame.timestamp_us));
                }
                messages.push(message.clone());
            }
        });
    }
    span
}

/// Prints each example and how close it lies to the other labels' exemplars (a label that lies close to another
/// one will be confused with it).
fn report_examples(
    examples: &[Example],
    source: &str,
    model: &LoadedModel,
    bundle: &skelact_runtime::bundle::Bundle<'_>,
    overlay: &Overlay,
    center: Option<&[f32]>,
) -> anyhow::Result<()> {
    let (exemplars, dim) = match bundle.manifest().head {
        HeadSpec::Prototype { exemplars, dim, .. } => (exemplars, dim as usize),
        _ => (0, model.output_len()),
    };
    let mut embeddings = vec![0.0f32; exemplars as usize * dim];
    let mut labels = vec![0u16; exemplars as usize];
    let count = bundle.copy_exemplars(&mut ExemplarStorage { embeddings: &mut embeddings, labels: &mut labels })?;
    let mut bank: Vec<(String, Vec<f32>)> = (0..count)
        .map(|i| (model.label_name(labels[i]).to_string(), embeddings[i * dim..(i + 1) * dim].to_vec()))
        .collect();
    bank.extend(overlay.exemplars.iter().map(|e| (e.label.clone(), e.embedding.clone())));
    let cosine = |a: &[f32], b: &[f32]| enroll::centred_cosine(a, b, center);
    eprintln!("examples from {source}:");
    for example in examples {
        let nearest =
            bank.iter().map(|(label, e)| (label, cosine(&example.embedding, e))).max_by(|a, b| a.1.total_cmp(&b.1));
        eprintln!(
            "  {:.2}-{:.2} s: window of body {} at {:.2}-{:.2} s (IoU {:.2}){}",
            example.range.start_us as f64 / 1e6,
            example.range.end_us as f64 / 1e6,
            example.window.body_id,
            example.window.start_us as f64 / 1e6,
            example.window.end_us as f64 / 1e6,
            example.iou,
            nearest.map_or(String::new(), |(label, c)| format!(", nearest exemplar: {label} (cosine {c:.3})"))
        );
    }
    Ok(())
}
