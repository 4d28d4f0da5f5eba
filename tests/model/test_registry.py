"""The registry never serves a corrupt or half-written version, and promotions are audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.errors import RegistryError
from models.registry import Registry
from models.versions import load_engine


def _fake_version(
    registry: Registry, payload: bytes = b"weights", parent: str | None = None
) -> str:
    with registry.stage() as staged:
        (staged / "weights.bin").write_bytes(payload)
        (staged / "tokenizer").mkdir()
        (staged / "tokenizer" / "vocab.txt").write_text("a\nb\n")
        return registry.commit(staged, parent, {"sentiment_macro_f1": 0.9}, {}).id


def test_commit_promote_and_rollback(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    first = _fake_version(registry)
    second = _fake_version(registry, b"other", parent=first)
    assert [v.id for v in registry.versions()] == ["v0001", "v0002"]
    assert registry.current_id() is None
    registry.promote(first)
    registry.promote(second)
    assert registry.current_id() == second
    assert registry.rollback().id == first
    assert registry.current_id() == first
    with pytest.raises(RegistryError, match="nothing to roll back"):
        registry.rollback()
    assert [e["to"] for e in registry.promotion_log()] == [first, second, first]


def test_a_changed_file_is_refused(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    version = registry.get(_fake_version(registry))
    (version.path / "weights.bin").write_bytes(b"tampered")
    with pytest.raises(RegistryError, match=r"corrupt .*changed \['weights.bin'\]"):
        registry.verify(version)
    with pytest.raises(RegistryError, match="corrupt"):
        registry.promote(version.id)
    assert registry.current_id() is None


def test_a_missing_file_or_manifest_is_refused(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    version = registry.get(_fake_version(registry))
    (version.path / "tokenizer" / "vocab.txt").unlink()
    with pytest.raises(RegistryError, match=r"missing \['tokenizer/vocab.txt'\]"):
        registry.verify(version)
    (version.path / "manifest.json").unlink()
    with pytest.raises(RegistryError, match="incomplete"):
        registry.verify(version)


def test_a_failed_build_leaves_no_version_behind(tmp_path: Path) -> None:
    registry = Registry(tmp_path)

    def crash_mid_write() -> None:
        with registry.stage() as staged:
            (staged / "weights.bin").write_bytes(b"half")
            raise RuntimeError("training crashed")

    with pytest.raises(RuntimeError):
        crash_mid_write()
    assert registry.versions() == []
    assert list(registry.versions_dir.iterdir()) == []


def test_unknown_version_names_the_known_ones(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    _fake_version(registry)
    with pytest.raises(RegistryError, match=r"no model version 'v0042'.*known: v0001"):
        registry.get("v0042")


def test_load_engine_refuses_a_corrupt_model(tiny_registry: Registry, tmp_path: Path) -> None:
    import shutil

    copy = Registry(tmp_path / "copy")
    shutil.copytree(tiny_registry.root, copy.root)
    version = copy.current()
    assert version is not None
    heads = version.path / "heads.json"
    heads.write_text(json.dumps({"topic_keys": ["chat/other"]}))
    with pytest.raises(RegistryError, match="corrupt"):
        load_engine(copy)
