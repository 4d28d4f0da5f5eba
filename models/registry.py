"""The model registry: immutable, checksummed version folders and an atomic ``current`` pointer.

Layout under the registry path::

    versions/v0003/            one folder per version, never modified after it is committed
        version.json           id, parent, created_at, checksum, metrics, training summary
        manifest.json          sha256 of every other file in the folder
        weights.safetensors, tokenizer/, encoder/, heads.json, taxonomy.yaml, report.json
    current                    the served version id (replaced atomically)
    promotions.jsonl           every change of ``current``, for audit and rollback

A version is assembled in a hidden staging folder and renamed into ``versions/`` in one step, so
a crash mid-write leaves no half version behind; loading re-hashes every file, so a corrupt or
tampered one is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.errors import RegistryError

VERSION_FILE = "version.json"
MANIFEST_FILE = "manifest.json"
VERSION_ID = re.compile(r"^v\d{4,}$")


@dataclass(frozen=True)
class ModelVersion:
    id: str
    path: Path
    checksum: str
    created_at: str
    parent: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    notes: str = ""

    @property
    def languages(self) -> list[str]:
        """ISO 639-1 codes this version can score ("*" = any); older versions: English."""
        return [str(code) for code in self.training.get("languages", ["en"])]

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parent": self.parent,
            "created_at": self.created_at,
            "checksum": self.checksum,
            "metrics": self.metrics,
            "training": self.training,
            "notes": self.notes,
        }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _manifest(folder: Path) -> dict[str, str]:
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.name not in (VERSION_FILE, MANIFEST_FILE)
    )
    return {p.relative_to(folder).as_posix(): _sha256(p) for p in files}


def _manifest_checksum(manifest: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class Registry:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.versions_dir = root / "versions"
        self.pointer = root / "current"
        self.history = root / "promotions.jsonl"

    # -- reading --------------------------------------------------------------------------

    def versions(self) -> list[ModelVersion]:
        if not self.versions_dir.is_dir():
            return []
        found = []
        for folder in sorted(self.versions_dir.iterdir()):
            if VERSION_ID.match(folder.name) and (folder / VERSION_FILE).is_file():
                found.append(self._read(folder))
        return found

    def _read(self, folder: Path) -> ModelVersion:
        try:
            meta = json.loads((folder / VERSION_FILE).read_text())
            return ModelVersion(
                id=meta["id"],
                path=folder,
                checksum=meta["checksum"],
                created_at=meta["created_at"],
                parent=meta.get("parent"),
                metrics=meta.get("metrics", {}),
                training=meta.get("training", {}),
                notes=meta.get("notes", ""),
            )
        except (OSError, ValueError, KeyError) as exc:
            raise RegistryError(
                f"version folder {folder} has no readable {VERSION_FILE}: {exc}"
            ) from exc

    def get(self, version_id: str) -> ModelVersion:
        folder = self.versions_dir / version_id
        if not VERSION_ID.match(version_id) or not (folder / VERSION_FILE).is_file():
            known = ", ".join(v.id for v in self.versions()) or "none"
            raise RegistryError(f"no model version {version_id!r} in {self.root} (known: {known})")
        return self._read(folder)

    def current_id(self) -> str | None:
        try:
            return self.pointer.read_text().strip() or None
        except FileNotFoundError:
            return None

    def current(self) -> ModelVersion | None:
        version_id = self.current_id()
        return self.get(version_id) if version_id else None

    def verify(self, version: ModelVersion) -> None:
        """Re-hash every file; raise :class:`RegistryError` if anything differs or is missing."""
        try:
            recorded = json.loads((version.path / MANIFEST_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise RegistryError(f"{version.id} is incomplete: no readable {MANIFEST_FILE}") from exc
        if _manifest_checksum(recorded) != version.checksum:
            raise RegistryError(f"{version.id}: manifest does not match the recorded checksum")
        actual = _manifest(version.path)
        if actual != recorded:
            missing = sorted(set(recorded) - set(actual))
            changed = sorted(k for k in recorded if k in actual and actual[k] != recorded[k])
            extra = sorted(set(actual) - set(recorded))
            raise RegistryError(
                f"{version.id} is corrupt and will not be served: missing {missing}, "
                f"changed {changed}, unexpected {extra}"
            )

    # -- writing --------------------------------------------------------------------------

    def _next_id(self) -> str:
        numbers = [int(v.id[1:]) for v in self.versions()]
        if self.versions_dir.is_dir():  # count folders too, even broken ones: ids never repeat
            numbers += [
                int(p.name[1:]) for p in self.versions_dir.iterdir() if VERSION_ID.match(p.name)
            ]
        return f"v{max(numbers, default=0) + 1:04d}"

    @contextmanager
    def stage(self) -> Iterator[Path]:
        """A private folder to write a version into; removed if the block fails."""
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(dir=self.versions_dir, prefix=".staging-"))
        try:
            yield folder
        finally:
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)

    def commit(
        self,
        staged: Path,
        parent: str | None,
        metrics: dict[str, Any],
        training: dict[str, Any],
        notes: str = "",
    ) -> ModelVersion:
        """Checksum ``staged``, give it the next id and move it into place in one rename."""
        manifest = _manifest(staged)
        if not manifest:
            raise RegistryError("refusing to register an empty version folder")
        (staged / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        version_id = self._next_id()
        meta = {
            "id": version_id,
            "parent": parent,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "checksum": _manifest_checksum(manifest),
            "metrics": metrics,
            "training": training,
            "notes": notes,
        }
        (staged / VERSION_FILE).write_text(json.dumps(meta, indent=2, default=str))
        target = self.versions_dir / version_id
        os.rename(staged, target)  # atomic on one file system; fails if the id was taken
        return self._read(target)

    def promote(self, version_id: str, reason: str = "manual") -> ModelVersion:
        """Point ``current`` at a verified version and record why."""
        version = self.get(version_id)
        self.verify(version)
        previous = self.current_id()
        self.root.mkdir(parents=True, exist_ok=True)
        _write_atomically(self.pointer, version.id + "\n")
        entry = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "from": previous,
            "to": version.id,
            "reason": reason,
        }
        with self.history.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
        return version

    def rollback(self) -> ModelVersion:
        """Return ``current`` to the version served before it."""
        current = self.current_id()
        if current is None:
            raise RegistryError("nothing to roll back: no version is current")
        for entry in reversed(self.promotion_log()):
            # The promotion that made `current` current; earlier rollbacks do not count, so
            # rolling back twice walks further back instead of undoing itself.
            if (
                entry["to"] == current
                and entry["from"]
                and not entry["reason"].startswith("rollback")
            ):
                return self.promote(entry["from"], reason=f"rollback from {current}")
        raise RegistryError(f"nothing to roll back to: {current} has no earlier version on record")

    def promotion_log(self) -> list[dict[str, Any]]:
        if not self.history.is_file():
            return []
        return [json.loads(line) for line in self.history.read_text().splitlines() if line.strip()]
