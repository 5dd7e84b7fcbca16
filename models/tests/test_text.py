"""The text encoder: offline loading, the export against sentence-transformers and onnxruntime, the descriptions."""

import numpy as np
import pytest
import torch

from skelact_models import text
from skelact_models.data import nwucla, utdmhad
from skelact_models.export import run_onnxruntime

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def sentence_model():
    return text.load_sentence_model()


def test_every_class_of_both_datasets_has_one_description():
    d = text.descriptions()
    assert list(d["nw-ucla"]) == list(nwucla.CLASSES)
    assert list(d["utd-mhad"]) == list(utdmhad.CLASSES)
    written = [v for classes in d.values() for v in classes.values()]
    assert all(len(v.split()) >= 8 for v in written) and len(set(written)) == len(written)
    _, mask = text.encode_ids(written)
    assert mask.sum(axis=1).max() < text.MAX_TOKENS  # no description is cut


def test_the_device_computation_is_the_sentence_transformers_embedding(sentence_model):
    prompts = ["a person waves both arms above the head", "sit down", "Kick something with the RIGHT foot!"]
    want = sentence_model.encode(prompts, normalize_embeddings=True)
    sentence, tokens = text.encode(prompts, sentence_model)
    np.testing.assert_allclose(sentence, want, atol=1e-5)
    _, mask = text.encode_ids(prompts)
    assert np.all(tokens[mask == 0] == 0) and np.all(np.abs(tokens[mask == 1]).sum(axis=-1) > 0)


def test_the_tokenizer_cuts_and_pads_at_the_fixed_length():
    ids, mask = text.encode_ids(["wave", "wave " * 100])
    assert ids.shape == (2, text.MAX_TOKENS)
    assert mask[0].sum() == 3 and ids[0, 0] == 101 and ids[0, 2] == 102  # [CLS] wave [SEP]
    assert mask[1].sum() == text.MAX_TOKENS and ids[1, -1] == 102  # cut, [SEP] kept last


def test_export_matches_onnxruntime(tmp_path, sentence_model):
    path = text.export_text_encoder(tmp_path, sentence_model)
    assert (tmp_path / "tokenizer.json").read_bytes() == (text.model_dir() / "tokenizer.json").read_bytes()
    prompts = ["jogging in place", "the right hand draws a circle in the air in front of the body"]
    sentence, tokens = text.encode(prompts, sentence_model)
    ids, mask = text.encode_ids(prompts)
    for i in range(len(prompts)):
        got = run_onnxruntime(path, {"input_ids": ids[i:i + 1], "attention_mask": mask[i:i + 1]})
        np.testing.assert_allclose(got["sentence"][0], sentence[i], atol=1e-4)
        np.testing.assert_allclose(got["tokens"][0], tokens[i], atol=1e-4)
