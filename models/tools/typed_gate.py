"""Typed labels behind a gate (Socher et al., 2013: novelty detection, then zero-shot): a window goes to the labels
typed as words only when the trained classes do not claim it. Measures whether that lets a board name an action held
out of all training, with one label typed at a time.

Protocol, fixed before the test split is read:
1. A validation copy of the text-aligned HCN (`textaligned`) is trained on the seen classes of training subjects 1,
   3 and 5. On subject 7 (a person it never saw; seen classes only) it gives the gate: the `GATE_PERCENTILE`th
   percentile of the trained classes' top softmax probability (the text head over the seen names), so the gate
   passes that share of a new person's trained actions to the trained classes. Nothing of a held-out class enters.
2. The shipped text-aligned model (trained on subjects 1, 3, 5, 7) is then read on the test subjects (2, 4, 6, 8):
   for each held-out class, one label is typed (its name, or its description); a window is given to the typed label
   when the trained classes' top probability is below the gate. Reported per class: the share of that class's
   windows named by it (recall), of the seen classes' windows (false accepts), and of the other held-out classes'
   windows (novel actions it takes that are not its own).

Usage: .venv/bin/python models/tools/typed_gate.py [--reuse] (about 20 minutes on 2 cores; --reuse loads the
validation model from models/zoo/text-aligned-hcn/validation/).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from skelact_models import real, text, textaligned
from skelact_models.preprocess import PreprocessConfig
from skelact_models.train.common import log

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "models" / "zoo" / "text-aligned-hcn"
GATE_PERCENTILE = 10


@torch.no_grad()
def seen_probabilities(z, payload):
    """The trained classes' softmax through the model's text head (gamma shifts every row alike and drops out)."""
    return torch.softmax(textaligned.text_head(payload["text_embeddings"], payload["temperature"])(z), dim=1)


def embed(payload, data):
    aligned, _ = textaligned.load(payload)
    return textaligned.embed(aligned, data, PreprocessConfig(**payload["preprocess"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.time()
    names = real.classes(textaligned.DATASET)
    seen_names = [n for n in names if n not in textaligned.HELD_OUT]
    train = textaligned.seen_subset(real.load_train(textaligned.DATASET, textaligned.RECIPE.align), names, seen_names)
    fit, validation = real.validation_split(textaligned.DATASET, train)
    folder = OUT / "validation"
    folder.mkdir(parents=True, exist_ok=True)
    if args.reuse:
        payload = torch.load(folder / "hcn_text.pt", map_location="cpu", weights_only=False)
    else:
        payload, _ = textaligned._train(fit, names, seen_names, textaligned.RECIPE.epochs, args.threads, False,
                                        started)
        torch.save(payload, folder / "hcn_text.pt")
    z_val = embed(payload, validation)
    p_val = seen_probabilities(z_val, payload)
    val_accuracy = float((p_val.argmax(dim=1).numpy() == validation.labels).mean())
    gate = float(np.percentile(p_val.max(dim=1).values.numpy(), GATE_PERCENTILE))
    log(f"validation (subject 7, {len(validation)} seen sequences): accuracy {val_accuracy:.4f}, gate {gate:.4f}")

    # The shipped model on the test split, read once, with the gate fixed above.
    final = torch.load(OUT / "hcn_text.pt", map_location="cpu", weights_only=False)
    test = real.load_test(textaligned.DATASET, textaligned.RECIPE.align)
    z = embed(final, test)
    p_seen = seen_probabilities(z, final)
    gated = p_seen.max(dim=1).values < gate
    labels = torch.as_tensor(test.labels)
    held_out = [names.index(n) for n in textaligned.HELD_OUT]
    is_seen = ~torch.isin(labels, torch.as_tensor(held_out))
    described = text.descriptions()[textaligned.DATASET]
    name_embeddings = torch.from_numpy(text.encode(list(textaligned.HELD_OUT))[0])
    description_embeddings = torch.from_numpy(text.encode([described[n] for n in textaligned.HELD_OUT])[0])
    per_class = {}
    for name, c in zip(textaligned.HELD_OUT, held_out):
        own = labels == c
        other_novel = torch.isin(labels, torch.as_tensor([h for h in held_out if h != c]))
        row = {"windows": int(own.sum())}
        # One typed label: with the gate open it is the only candidate, so it takes every gated window; the name
        # plays no part. With every held-out label typed at once, the nearest typed prompt takes a gated window.
        row["one_typed"] = {"recall": float(gated[own].float().mean()),
                            "false_accepts_seen": float(gated[is_seen].float().mean()),
                            "takes_other_held_out": float(gated[other_novel].float().mean())}
        for kind, prompts in (("names", name_embeddings), ("descriptions", description_embeddings)):
            nearest = torch.as_tensor(held_out)[(z @ F.normalize(prompts, dim=1).T).argmax(dim=1)]
            row[f"all_typed_{kind}"] = {"recall": float((gated & (nearest == c))[own].float().mean())}
        per_class[name] = row
    unseen = ~is_seen
    result = {
        "protocol": __doc__.split("Usage")[0].strip(), "gate_percentile": GATE_PERCENTILE, "gate": gate,
        "validation": {"subject": 7, "sequences": len(validation), "seen_accuracy": val_accuracy},
        "test": {"seen_windows": int(is_seen.sum()), "held_out_windows": int(unseen.sum()),
                 "seen_gated": float(gated[is_seen].float().mean()),
                 "held_out_gated": float(gated[unseen].float().mean()),
                 "seen_accuracy_ungated": float(((p_seen.argmax(dim=1) == torch.searchsorted(
                     torch.as_tensor([names.index(n) for n in seen_names]), labels)) & ~gated)[is_seen]
                     .float().mean())},
        "per_class": per_class, "seconds": time.time() - started}
    (OUT / "typed_gate.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["test"], indent=1))
    for name, row in per_class.items():
        print(name, json.dumps(row))


if __name__ == "__main__":
    main()
