//! `skelact labels add|remove|list`: actions named in words, through the bundle's own text encoder, into its
//! overlay.
//!
//! A text-aligned bundle (`skelact info` says so) maps each window into the text encoder's space, and its linear
//! head's rows are the trained classes' names there. `labels add "waving both arms above the head"` embeds the
//! prompt on this device (the bundle's tokenizer and text encoder, on tract) and keeps it in the overlay; from its
//! next start the daemon scores that label beside the trained ones, through the same decisions (hysteresis,
//! unknown). Nothing is trained and no example is needed.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use skelact_device::enroll::centred_cosine;
use skelact_device::model::{first_free_action_id, BundleFile, LabelInfo, LoadedModel, OverlayChoice};
use skelact_device::overlay::{Overlay, TextLabel};
use skelact_runtime::bundle::HeadSpec;

#[derive(Debug, Args)]
pub struct LabelsArgs {
    #[command(subcommand)]
    pub command: LabelsCommand,
    /// Model bundle (.skb).
    #[arg(long, global = true)]
    pub bundle: Option<PathBuf>,
    /// Overlay file [default: NAME.overlay.json next to the bundle].
    #[arg(long, global = true)]
    pub overlay: Option<PathBuf>,
    /// After a change, ask the daemon with this process id to reload (SIGHUP), so that a running board reports the
    /// new labels at once (`systemctl reload skelact` does the same for the service).
    #[arg(long, global = true, value_name = "PID")]
    pub reload: Option<i32>,
}

#[derive(Debug, Subcommand)]
pub enum LabelsCommand {
    /// Add an action by its description: the prompt is embedded by the bundle's text encoder.
    Add {
        /// What the action looks like, in words ("waving both arms above the head").
        prompt: String,
        /// The label's name in events and logs [default: the prompt].
        #[arg(long)]
        name: Option<String>,
        /// Its action id [default: the first free id from 1000].
        #[arg(long)]
        action_id: Option<u16>,
        /// Replace a text label of the same name.
        #[arg(long)]
        replace: bool,
        /// Put the typed labels behind a novelty gate: a window goes to them only where the trained classes' top
        /// probability is below P (the shipped text-aligned model's calibrated gate is 0.706; docs/models.md,
        /// "Labels typed as words"). It holds for every typed label of the overlay; without it they compete with
        /// the trained classes directly.
        #[arg(long, value_name = "P")]
        gate: Option<f32>,
        /// Behind the gate, let the bundle's TDSM scorer choose among the typed labels (the lowest denoising error
        /// takes the window) instead of the cosine. Needs a gate and a bundle with a scorer; on the shipped model it
        /// names fewer held-out actions than the cosine (docs/models.md, "TDSM on the device").
        #[arg(long, conflicts_with = "cosine")]
        tdsm: bool,
        /// Back to the cosine choosing among the typed labels behind the gate (undoes --tdsm).
        #[arg(long)]
        cosine: bool,
    },
    /// Remove a label the overlay added (typed or enrolled), with its exemplars.
    Remove {
        /// The label's name.
        name: String,
    },
    /// Every label the device reports: the bundle's, the typed ones and the enrolled ones.
    List {
        /// One JSON object per label.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: LabelsArgs) -> anyhow::Result<()> {
    let bundle_path = args.bundle.clone().context("--bundle is required")?;
    let overlay_path = args.overlay.clone().unwrap_or_else(|| Overlay::path_for(&bundle_path));
    let file = BundleFile::read(&bundle_path)?;
    let model = LoadedModel::open(&file, &OverlayChoice::if_exists(&overlay_path))?;
    match args.command {
        LabelsCommand::List { json } => {
            list(&model, json);
            Ok(())
        }
        LabelsCommand::Add { prompt, name, action_id, replace, gate, tdsm, cosine } => {
            let name = name.unwrap_or_else(|| prompt.trim().to_string());
            let mut overlay = add(&model, &prompt, &name, action_id, replace)?;
            if let Some(gate) = gate {
                // Checked here as well as where the overlay is opened: JSON writes NaN as null, which reads back as
                // no gate at all.
                if !(0.0..=1.0).contains(&gate) {
                    bail!("--gate {gate}: a probability, 0 to 1");
                }
                overlay.typed_gate = Some(gate);
            }
            if tdsm || cosine {
                overlay.rank_typed_by_tdsm = tdsm;
            }
            write_checked(&file, &overlay, &overlay_path)?;
            let id = overlay.text_labels.iter().find(|l| l.name == name).map_or(0, |l| l.action_id);
            println!("added {name:?} (action {id}) to {}", overlay_path.display());
            reload(args.reload)
        }
        LabelsCommand::Remove { name } => {
            let Some(mut overlay) = model.overlay.clone() else {
                bail!("{} has no overlay ({} does not exist)", bundle_path.display(), overlay_path.display())
            };
            if model.labels.iter().any(|l| l.name == name && !l.enrolled) {
                bail!("{name:?} is one of the bundle's own labels; only labels the overlay added can be removed");
            }
            let before = (overlay.text_labels.len(), overlay.labels.len(), overlay.exemplars.len());
            overlay.text_labels.retain(|l| l.name != name);
            overlay.labels.retain(|l| l.name != name);
            overlay.exemplars.retain(|e| e.label != name);
            overlay.thresholds.remove(&name);
            let after = (overlay.text_labels.len(), overlay.labels.len(), overlay.exemplars.len());
            if before == after {
                bail!("no label {name:?} in {} (`skelact labels list` shows them)", overlay_path.display());
            }
            write_checked(&file, &overlay, &overlay_path)?;
            println!("removed {name:?} ({} exemplar(s)) from {}", before.2 - after.2, overlay_path.display());
            reload(args.reload)
        }
    }
}

/// Asks the daemon to reload, or says when the change takes effect.
fn reload(pid: Option<i32>) -> anyhow::Result<()> {
    let Some(pid) = pid else {
        println!(
            "a running daemon takes the change when it reloads (`systemctl reload skelact`, SIGHUP, or --reload PID)"
        );
        return Ok(());
    };
    super::ask_to_reload(pid).map_err(|e| {
        anyhow::anyhow!("the overlay is written, but the daemon (pid {pid}) cannot be asked to reload: {e}")
    })?;
    println!("asked the daemon (pid {pid}) to reload");
    Ok(())
}

/// The overlay with the prompt's label added (or replaced).
fn add(
    model: &LoadedModel<'_>,
    prompt: &str,
    name: &str,
    action_id: Option<u16>,
    replace: bool,
) -> anyhow::Result<Overlay> {
    if !model.text_aligned() {
        let carries = if model.bundle.text_encoder_spec().is_some() { "carries" } else { "does not carry" };
        bail!(
            "{}: labels cannot be typed for this bundle: it {carries} a text encoder, and typed labels need a \
             text-aligned model (a linear head over embeddings in the text encoder's space, as `cargo xtask pipeline \
             text-aligned` builds)",
            model.path.display()
        );
    }
    let encoder = model.text_encoder()?;
    let embedding = encoder.encode(prompt).with_context(|| format!("cannot embed {prompt:?}"))?.sentence;
    let mut overlay = model.overlay_to_edit();
    let existing = model.labels.iter().find(|l| l.name == name);
    let action_id = match existing {
        Some(label) if label.prompt.is_some() && replace => {
            overlay.text_labels.retain(|l| l.name != name);
            action_id.unwrap_or(label.action_id)
        }
        Some(label) if label.prompt.is_some() => {
            bail!("{name:?} is already typed as {:?}; --replace to change it", label.prompt.as_deref().unwrap_or(""))
        }
        Some(_) => bail!("{name:?} is already a label (of the bundle, or enrolled); choose another --name"),
        None => match action_id {
            Some(id) => id,
            None => first_free_action_id(&model.labels).context("no free action id")?,
        },
    };
    if let Some(clash) = model.labels.iter().find(|l| l.action_id == action_id && l.name != name) {
        bail!("action id {action_id} is taken by {:?}", clash.name);
    }
    report_nearest(model, &embedding);
    overlay.text_labels.push(TextLabel { name: name.into(), action_id, prompt: prompt.into(), embedding });
    Ok(overlay)
}

/// Prints the trained labels whose rows the prompt is nearest, so that a prompt that restates a trained action is
/// noticed (both would then compete for the same windows).
fn report_nearest(model: &LoadedModel<'_>, embedding: &[f32]) {
    let HeadSpec::Linear { section, dim, .. } = model.bundle.manifest().head else { return };
    let Ok(values) = model.bundle.f32_section(section) else { return };
    let dim = dim as usize;
    let mut nearest: Vec<(f64, &str)> = model
        .bundle
        .manifest()
        .labels
        .iter()
        .zip(values.chunks_exact(dim))
        .map(|(label, row)| (centred_cosine(row, embedding, None), label.name))
        .collect();
    nearest.sort_by(|a, b| b.0.total_cmp(&a.0));
    let shown: Vec<String> = nearest.iter().take(3).map(|(c, n)| format!("{n:?} {c:.2}")).collect();
    println!("nearest trained labels (cosine of the texts): {}", shown.join(", "));
}

/// Writes the overlay, then opens the bundle with it as the daemon will, so that an overlay the daemon would refuse
/// is reported here (and the old file kept).
fn write_checked(file: &BundleFile, overlay: &Overlay, path: &std::path::Path) -> anyhow::Result<()> {
    let staged = path.with_extension("json.new");
    overlay.write(&staged)?;
    let opened = LoadedModel::open(file, &OverlayChoice::File(staged.clone()));
    if let Err(error) = opened {
        let _ = std::fs::remove_file(&staged);
        return Err(anyhow::Error::new(error).context("the new overlay would be refused; nothing was changed"));
    }
    std::fs::rename(&staged, path).with_context(|| format!("cannot write {}", path.display()))
}

fn list(model: &LoadedModel<'_>, json: bool) {
    let exemplars = |label: &LabelInfo| {
        model.overlay.as_ref().map_or(0, |o| o.exemplars.iter().filter(|e| e.label == label.name).count())
    };
    let gate = model.overlay.as_ref().and_then(|o| o.typed_gate);
    let ranked_by = if model.overlay.as_ref().is_some_and(|o| o.rank_typed_by_tdsm) { "TDSM" } else { "cosine" };
    for (index, label) in model.labels.iter().enumerate() {
        let source = match (&label.prompt, label.enrolled) {
            (Some(_), _) => "typed",
            (None, true) => "enrolled",
            (None, false) => "bundle",
        };
        if json {
            let typed_gate = label.prompt.as_ref().and(gate);
            let line = serde_json::json!({"index": index, "name": label.name, "action_id": label.action_id,
                "source": source, "prompt": label.prompt, "exemplars": exemplars(label),
                "gate": typed_gate, "ranked_by": typed_gate.map(|_| ranked_by)});
            println!("{line}");
        } else {
            let detail = match (&label.prompt, gate) {
                (Some(prompt), Some(gate)) => {
                    format!("typed: {prompt:?}, behind the gate {gate}, ranked by {ranked_by}")
                }
                (Some(prompt), None) => format!("typed: {prompt:?}"),
                (None, _) if exemplars(label) > 0 => format!("{source}, {} exemplar(s)", exemplars(label)),
                (None, _) => source.to_string(),
            };
            println!("{index:>3}  action {:>5}  {}  ({detail})", label.action_id, label.name);
        }
    }
}
