//! `skelact info`: what a bundle holds, for people or (`--json`) for tools.

use std::path::PathBuf;

use clap::Args;
use serde_json::{json, Value};
use skelact_device::model::{head_name, BundleFile, LoadedModel, OverlayChoice};
use skelact_device::overlay::hex;
use skelact_device::trust::{self, fingerprint};
use skelact_runtime::bundle::{Bundle, HeadSpec, Manifest, Precision, SectionKind};

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Model bundle (.skb).
    pub bundle: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Ignore an enrollment overlay next to the bundle.
    #[arg(long)]
    pub no_overlay: bool,
}

pub fn run(args: InfoArgs) -> anyhow::Result<()> {
    let overlay = if args.no_overlay { OverlayChoice::Ignore } else { OverlayChoice::BesideBundle };
    let file = BundleFile::read(&args.bundle)?;
    let model = LoadedModel::open(&file, &overlay)?;
    let bundle = &model.bundle;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&info_json(&model, bundle)?)?);
    } else {
        print_text(&model, bundle);
    }
    Ok(())
}

fn section_name(code: u32) -> String {
    SectionKind::from_code(code).map_or_else(|| format!("unknown kind {code}"), |k| format!("{k:?}"))
}

/// The manifest as JSON (postcard field names), with the checksums in hex and what is derived from it.
pub fn info_json(model: &LoadedModel, bundle: &Bundle<'_>) -> anyhow::Result<Value> {
    let manifest = bundle.manifest();
    let mut manifest_json = serde_json::to_value(manifest)?;
    manifest_json["checkpoint_sha256"] = json!(hex(&manifest.checkpoint_sha256));
    manifest_json["validation"]["report_sha256"] = json!(hex(&manifest.validation.report_sha256));
    let (major, minor) = bundle.format_version();
    let precisions = manifest.precisions();
    Ok(json!({
        "path": model.path.display().to_string(),
        "format_version": format!("{major}.{minor}"),
        "bytes": std::fs::metadata(&model.path).map(|m| m.len()).ok(),
        "sha256": model.sha256_hex(),
        "version": bundle.version(),
        "model_rate_hz": f64::from(bundle.model_rate_millihertz()) / 1000.0,
        "signature": bundle.signature().map(|s| json!({
            "signer": s.signer, "key_fingerprint": fingerprint(&s.public_key), "public_key": hex(&s.public_key),
            "verifies": trust::verifies(&s.public_key, &s.signature, &s.message(&bundle.content_digest())),
        })),
        "self_test": bundle.self_test().map(|t| json!({"windows": t.windows, "min_cosine": t.min_cosine})),
        "reconstruction": bundle.reconstruction().map(|r| json!({
            "section": r.section, "frames": r.frames, "threshold": r.threshold,
            "bytes": bundle.reconstruction_onnx().map(<[u8]>::len),
        })),
        "text_encoder": bundle.text_encoder_spec().map(|t| json!({
            "encoder_section": t.encoder_section, "tokenizer_section": t.tokenizer_section,
            "max_tokens": t.max_tokens, "dim": t.dim,
            "bytes": bundle.text_encoder().map(|(model, _)| model.len()),
            "text_aligned": model.text_aligned(),
        })),
        "denoiser": bundle.denoiser_spec().map(|d| json!({
            "section": d.section, "feature": d.feature, "bytes": bundle.denoiser_onnx().map(<[u8]>::len),
        })),
        "sections": bundle.sections().enumerate().map(|(i, s)| json!({
            "index": i, "kind": section_name(s.kind_code), "bytes": s.payload.len(),
        })).collect::<Vec<_>>(),
        "precisions": {"fp32": precisions.fp32, "fp16": precisions.fp16, "int8": precisions.int8},
        "manifest": manifest_json,
        "validation_summary": bundle.validation_summary().and_then(|s| serde_json::from_str::<Value>(s).ok()),
        "labels": model.labels.iter().enumerate().map(|(i, l)| json!({
            "index": i, "name": l.name, "action_id": l.action_id, "enrolled": l.enrolled,
        })).collect::<Vec<_>>(),
        "overlay": model.overlay.as_ref().map(|o| json!({
            "path": model.overlay_path.as_ref().map(|p| p.display().to_string()),
            "labels": o.labels.len(),
            "exemplars": o.exemplars.len(),
        })),
    }))
}

fn print_text(model: &LoadedModel, bundle: &Bundle<'_>) {
    let m: &Manifest<'_> = bundle.manifest();
    let (major, minor) = bundle.format_version();
    let bytes = std::fs::metadata(&model.path).map(|m| m.len()).unwrap_or(0);
    println!("bundle      {} (format {major}.{minor}, {bytes} bytes)", model.path.display());
    println!("sha256      {}", model.sha256_hex());
    println!("version     {}", bundle.version());
    println!("model rate  {} Hz (sensors are resampled onto it)", f64::from(bundle.model_rate_millihertz()) / 1000.0);
    match bundle.signature() {
        Some(s) => {
            let genuine = trust::verifies(&s.public_key, &s.signature, &s.message(&bundle.content_digest()));
            let verdict = if genuine { "signature verifies" } else { "SIGNATURE DOES NOT VERIFY" };
            println!("signed by   {} (key {}): {verdict}", s.signer, fingerprint(&s.public_key));
        }
        None => println!("signed by   nobody (unsigned)"),
    }
    match bundle.self_test() {
        Some(t) => println!("self-test   {} windows, min cosine {}", t.windows, t.min_cosine),
        None => println!("self-test   none"),
    }
    match bundle.reconstruction() {
        Some(r) => println!(
            "REC         reconstruction model in section {} ({} bytes), T = {}, runs above missing fraction {} (auto)",
            r.section,
            bundle.reconstruction_onnx().map_or(0, <[u8]>::len),
            r.frames,
            r.threshold
        ),
        None => println!("REC         none (missing joints are interpolated)"),
    }
    match bundle.text_encoder_spec() {
        Some(t) => {
            println!(
                "text        text encoder in section {} ({} bytes), tokenizer in section {}, {} tokens, {}-d embeddings",
                t.encoder_section,
                bundle.text_encoder().map_or(0, |(model, _)| model.len()),
                t.tokenizer_section,
                t.max_tokens,
                t.dim
            );
            match model.text_aligned() {
                true => println!("            text-aligned: `skelact labels add \"PROMPT\"` names actions in words"),
                false => println!(
                    "            not text-aligned (the head is not linear over text embeddings): no typed labels"
                ),
            }
        }
        None => println!("text        none (no labels typed as words)"),
    }
    match bundle.denoiser_spec() {
        Some(d) => println!(
            "TDSM        scorer in section {} ({} bytes) for {}-d embeddings: `skelact labels add --tdsm` ranks typed labels with it",
            d.section,
            bundle.denoiser_onnx().map_or(0, <[u8]>::len),
            d.feature
        ),
        None => println!("TDSM        none (typed labels are ranked by cosine)"),
    }
    println!("model       {} ({:?}), layout {:?}, {} bodies per window", m.model_name, m.encoder, m.layout, m.bodies);
    println!("input       {} {:?}", m.input.name, m.input.shape.as_slice());
    println!("output      {} {:?}", m.output.name, m.output.shape.as_slice());
    let p = &m.preprocess;
    println!(
        "preprocess  T = {}, crop ratio {}, align {}",
        p.frames_out,
        p.crop_ratio,
        if p.align { "on" } else { "off" }
    );
    let w = &m.window;
    println!(
        "window      {} raw frames, stride {}, first after {}, gaps up to {} frames, track timeout {:.2} s, partner within {} m, min confidence {}",
        w.raw_frames, w.stride_frames, w.min_frames, w.max_gap_frames, w.timeout_us as f64 / 1e6, w.partner_max_distance_m, w.min_confidence
    );
    for s in &m.streams {
        let sections: Vec<String> = [("fp32", s.onnx_fp32), ("fp16", s.onnx_fp16), ("int8", s.onnx_int8)]
            .iter()
            .filter_map(|(name, index)| index.map(|i| format!("{name} in section {i}")))
            .collect();
        println!("stream      {:?}, weight {}: {}", s.stream, s.weight, sections.join(", "));
    }
    let head = match m.head {
        HeadSpec::Logits => "logits (softmax per stream, weighted fusion)".to_string(),
        HeadSpec::Linear { dim, bias, .. } => {
            format!("linear over {dim}-value embeddings{}", if bias { ", with bias" } else { "" })
        }
        HeadSpec::Prototype { exemplars, dim, k, min_similarity, .. } => {
            format!("prototype: {exemplars} exemplars of {dim} values, k = {k}, unknown below cosine {min_similarity}")
        }
        HeadSpec::Text { dim, temperature, min_similarity, .. } => {
            format!(
                "text: {dim}-value label embeddings, temperature {temperature}, unknown below cosine {min_similarity}"
            )
        }
    };
    println!("head        {head}");
    let d = &m.decision;
    println!(
        "decision    smoothing {} windows, enter {}, exit {}, switch margin {}, min duration {:.2} s, cooldown {:.2} s, unknown below {}, unknown events {}",
        d.smoothing_windows, d.enter_threshold, d.exit_threshold, d.switch_margin, d.min_duration_us as f64 / 1e6,
        d.cooldown_us as f64 / 1e6, d.unknown_threshold, if d.emit_unknown { "on" } else { "off" }
    );
    println!("labels      {} (index: name (action id))", model.labels.len());
    for (i, label) in model.labels.iter().enumerate() {
        println!("  {i:>3}: {} ({}){}", label.name, label.action_id, if label.enrolled { " [enrolled]" } else { "" });
    }
    if m.tensorrt.is_empty() {
        println!("tensorrt    no engines");
    }
    for e in &m.tensorrt {
        println!(
            "tensorrt    {:?} {:?} in section {}: TensorRT {}, GPU {}",
            e.stream, e.precision, e.section, e.tensorrt, e.compute_capability
        );
    }
    let shipped = m.precisions();
    for v in &m.validation.variants {
        // The report covers every variant validated; say which ones this bundle can actually run.
        let in_bundle = match v.variant.rsplit('-').next() {
            Some("fp32") => shipped.fp32,
            Some("fp16") => shipped.fp16 || m.tensorrt.iter().any(|e| e.precision == Precision::Fp16),
            Some("int8") => shipped.int8 || m.tensorrt.iter().any(|e| e.precision == Precision::Int8),
            _ => true,
        };
        println!(
            "validation  {}: top-1 agreement {:.4}, cosine min {:.6} mean {:.6}, accuracy {:.4}{}",
            v.variant,
            v.top1_agreement,
            v.cosine_min,
            v.cosine_mean,
            v.accuracy,
            if in_bundle { "" } else { " (precision not in this bundle)" }
        );
    }
    println!("checkpoint  sha256 {}", hex(&m.checkpoint_sha256));
    println!("report      sha256 {}", hex(&m.validation.report_sha256));
    match (&model.overlay, &model.overlay_path) {
        (Some(o), Some(path)) => {
            println!("overlay     {}: {} labels, {} exemplars", path.display(), o.labels.len(), o.exemplars.len())
        }
        _ => println!("overlay     none"),
    }
    println!("sections    {}", bundle.section_count());
    for (i, s) in bundle.sections().enumerate() {
        println!("  {i:>3}: {:<18} {} bytes", section_name(s.kind_code), s.payload.len());
    }
    match m.head {
        HeadSpec::Prototype { .. } => println!("enrollment  exemplars join the prototype head's"),
        HeadSpec::Linear { .. } => {
            println!("enrollment  enrolled actions are checked before the linear head (overlay min_similarity)")
        }
        _ => println!("enrollment  not possible: the head is {} (enrollment needs embeddings)", head_name(&m.head)),
    }
}
