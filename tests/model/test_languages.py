"""Language detection and the languages a model version declares.

The multilingual plumbing is proven with a tiny encoder built here: a WordPiece tokenizer
trained on a few Chinese and English lines, a two-layer BERT, and a model card declaring
``language: [en, zh]``, in a folder used the way MOODWATCH_ENCODER_PATH is.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import BertConfig, BertModel, BertTokenizerFast  # type: ignore[attr-defined]

from models.examples import Example
from models.language import UNDETERMINED, detect_languages, is_supported
from models.registry import Registry
from models.taxonomy import Taxonomy
from models.training import TrainingConfig
from models.versions import build_version, load_engine

ZH_COMPLAINT = "这家银行的服务太差了，退款三周还没到账"
LINES = [
    ZH_COMPLAINT,
    "快递终于到了，包装很好，非常满意",
    "我的账户登录不了，验证码一直收不到",
    "这个产品质量很好，我很喜欢",
    "The refund still has not arrived after three weeks.",
    "The parcel finally came and it was packed well, very happy.",
    "I cannot log in to my account, the code never arrives.",
    "Great quality, I love this product.",
]


def test_detects_english_chinese_and_other_languages_in_one_batch() -> None:
    texts = [
        "The bank's service is terrible and my refund has not arrived.",
        ZH_COMPLAINT,
        "Le service de cette banque est vraiment nul, je suis furieux.",
        "Der Kundendienst war sehr freundlich und hat alles schnell gelöst.",
        "配送が遅すぎます",
        "🙂🙂",
        "",
    ]
    assert detect_languages(texts) == ["en", "zh", "fr", "de", "ja", UNDETERMINED, UNDETERMINED]


def test_undetermined_and_wildcard_languages_are_served() -> None:
    assert is_supported("en", ["en"])
    assert not is_supported("zh", ["en"])
    assert is_supported(UNDETERMINED, ["en"])
    assert is_supported("zh", ["*"])


def _tiny_multilingual_encoder(folder: Path) -> Path:
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True, handle_chinese_chars=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(
        LINES * 3, trainers.WordPieceTrainer(vocab_size=400, special_tokens=special)
    )
    fast = BertTokenizerFast(tokenizer_object=tokenizer)
    fast.save_pretrained(str(folder))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(str(folder))  # type: ignore[no-untyped-call]
    (folder / "README.md").write_text("---\nlanguage:\n- en\n- zh\n---\n# tiny test encoder\n")
    return folder


@pytest.fixture(scope="module")
def multilingual_registry(tmp_path_factory: pytest.TempPathFactory, taxonomy: Taxonomy) -> Registry:
    encoder = _tiny_multilingual_encoder(tmp_path_factory.mktemp("encoder"))
    registry = Registry(tmp_path_factory.mktemp("registry"))
    sentiments = ["negative", "positive", "neutral", "positive"] * 2
    topics = ["refunds", "delivery", "account_login", "product_quality"] * 2
    data = [
        Example(t, "chat", s, topic) for t, s, topic in zip(LINES, sentiments, topics, strict=True)
    ]
    config = TrainingConfig(epochs=2, batch_size=4, calibration_fraction=0.0, frozen_layers=0)
    built = build_version(
        registry,
        taxonomy,
        data * 2,
        encoder_path=encoder,
        golden=data,
        config=config,
        progress=False,
    )
    registry.promote(built.version.id, reason="test")
    return registry


def test_a_multilingual_encoder_makes_its_languages_supported(
    multilingual_registry: Registry,
) -> None:
    version = multilingual_registry.current()
    assert version is not None
    assert version.languages == ["en", "zh"]
    engine = load_engine(multilingual_registry)
    assert engine.languages == ["en", "zh"]
    [language] = detect_languages([ZH_COMPLAINT])
    assert is_supported(language, engine.languages)
    [prediction] = engine.predict([ZH_COMPLAINT], ["chat"])
    assert prediction.sentiment in ("negative", "neutral", "positive")


def test_the_default_english_model_does_not_support_chinese(tiny_registry: Registry) -> None:
    version = tiny_registry.current()
    assert version is not None
    assert version.languages == ["en"]
    engine = load_engine(tiny_registry)
    assert engine.languages == ["en"]
    [language] = detect_languages([ZH_COMPLAINT])
    assert not is_supported(language, engine.languages)
