"""Saving a trained classifier to a folder and loading it back, without any network access."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from models.calibration import ChannelCalibration
from models.classifier import MoodClassifier
from models.errors import ModelError
from models.taxonomy import Taxonomy, parse_taxonomy

WEIGHTS = "weights.safetensors"
HEADS = "heads.json"
TAXONOMY = "taxonomy.yaml"
ENCODER_CONFIG = "encoder"
TOKENIZER = "tokenizer"


@dataclass
class Checkpoint:
    """A classifier with the tokenizer and the taxonomy it was trained on."""

    classifier: MoodClassifier
    tokenizer: PreTrainedTokenizerBase
    taxonomy: Taxonomy
    # ISO 639-1 codes of the text this model can score (its encoder's); "*" means any.
    languages: list[str] = field(default_factory=lambda: ["en"])


def save_checkpoint(checkpoint: Checkpoint, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model = checkpoint.classifier
    model.encoder.config.save_pretrained(str(folder / ENCODER_CONFIG))
    checkpoint.tokenizer.save_pretrained(str(folder / TOKENIZER))
    state = {
        name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()
    }
    save_file(state, str(folder / WEIGHTS))
    heads = {
        "topic_keys": model.topic_keys,
        "languages": checkpoint.languages,
        "zero_shot_other_threshold": model.zero_shot_other_threshold,
        "sentiment_calibration": {
            channel: calibration.to_dict()
            for channel, calibration in sorted(model.sentiment_calibration.items())
        },
    }
    (folder / HEADS).write_text(json.dumps(heads, indent=2))
    (folder / TAXONOMY).write_text(checkpoint.taxonomy.to_yaml(), encoding="utf-8")


def load_checkpoint(folder: Path, device: torch.device | str = "cpu") -> Checkpoint:
    """Rebuild the classifier from ``folder``; raises :class:`ModelError` naming what is wrong."""
    try:
        config = AutoConfig.from_pretrained(str(folder / ENCODER_CONFIG), local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(str(folder / TOKENIZER), local_files_only=True)
        heads = json.loads((folder / HEADS).read_text())
        topic_keys = heads["topic_keys"]
        languages = [str(code) for code in heads.get("languages", ["en"])]
        calibration = {
            channel: ChannelCalibration.from_dict(data)
            for channel, data in heads.get("sentiment_calibration", {}).items()
        }
        taxonomy = parse_taxonomy((folder / TAXONOMY).read_text("utf-8"), str(folder / TAXONOMY))
        state = load_file(str(folder / WEIGHTS), device="cpu")
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot load the model in {folder}: {exc}") from exc
    encoder = AutoModel.from_config(config)  # type: ignore[no-untyped-call]
    classifier = MoodClassifier(encoder, topic_keys)
    classifier.sentiment_calibration = calibration
    threshold = heads.get("zero_shot_other_threshold")
    classifier.zero_shot_other_threshold = None if threshold is None else float(threshold)
    missing, unexpected = classifier.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelError(
            f"weights in {folder} do not fit the model: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    classifier.to(device).eval()
    return Checkpoint(classifier, tokenizer, taxonomy, languages)
