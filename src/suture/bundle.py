"""The one artifact format: every profile, recommender and model suture saves.

An artifact is a set of named **parts** (bytes: JSON, TOML, Arrow IPC, Parquet, NumPy
``.npy`` or a framed aggregator state; never a pickle, so loading runs no code) described
by a **manifest**: the format name and version, the suture version that wrote it, the
creation time, free metadata, and each part's size and SHA-256.  It has two forms, chosen
by its :class:`Kind`:

- a **folder** (recommender, model): ``manifest.json`` beside one file per part;
- a **single file** (profile): an 8-byte magic, the format version, the SHA-256 and length
  of the body, then the body: the manifest and the parts, one after another.

Writes are atomic (:func:`atomic_outputs`): an interrupted save leaves no partial artifact
and an existing one byte for byte as it was.  Reads verify everything and refuse, in one
sentence naming the file, the fault and the fix, a damaged, truncated, incomplete, newer or
foreign artifact.  Formats written before this module existed (profile and recommender
format 1) load as *legacy* bundles.  ``docs/artifacts.md`` describes the layout.

Examples
--------
>>> Bundle.write("model", MODEL, 1, {"model.json": data}, {"target": "churn"})  # doctest: +SKIP
>>> Bundle.read("model", MODEL, max_version=1).part("model.json")             # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suture import _manifest as mf
from suture._atomic import atomic_outputs, check_output, write_bytes_atomic
from suture._manifest import (
    KINDS,
    MANIFEST,
    MANIFEST_VERSION,
    MODEL,
    PROFILE,
    RECOMMENDER,
    Kind,
    created_now,
)
from suture.errors import ConfigError, CorruptStateError, SourceError

__all__ = [
    "KINDS",
    "MANIFEST",
    "MANIFEST_VERSION",
    "MODEL",
    "PROFILE",
    "RECOMMENDER",
    "Bundle",
    "Kind",
    "LazyParts",
    "atomic_outputs",
    "check_output",
    "created_now",
    "write_bytes_atomic",
]

_LEGACY_HEAD = struct.Struct("<8sH32s")  # magic, format version, SHA-256 of the rest
_HEAD = struct.Struct("<8sH32sQ")  # ... and the body's length
_U32 = struct.Struct("<I")

Bytes = bytes | bytearray | memoryview


class LazyParts(Mapping[str, Bytes]):
    """Parts made on demand, one at a time, so a large artifact is never whole in memory.

    Parameters
    ----------
    makers : Mapping[str, Callable[[], bytes]]
        Part name to a function that returns its bytes; called once, when written.
    """

    def __init__(self, makers: Mapping[str, Callable[[], Bytes]]) -> None:
        self._makers = dict(makers)

    def __getitem__(self, name: str) -> Bytes:
        return self._makers[name]()

    def __iter__(self) -> Iterator[str]:
        return iter(self._makers)

    def __len__(self) -> int:
        return len(self._makers)


@dataclass(frozen=True)
class Bundle:
    """A verified artifact: its kind, format version, manifest and parts.

    Attributes
    ----------
    kind : Kind
    version : int
        The format version it was written in (at most the reader's ``max_version``).
    parts : Mapping[str, bytes]
        Every part, verified against its size and SHA-256, in name order.
    manifest : Mapping[str, Any]
        The manifest as stored (empty for a legacy single file).
    path : str
        Where it was read from, as messages name it.
    """

    kind: Kind
    version: int
    parts: Mapping[str, bytes]
    manifest: Mapping[str, Any] = field(default_factory=dict)
    path: str = ""

    @property
    def legacy(self) -> bool:
        """Written before this module: a folder's manifest keeps its own keys, and a single
        file's whole body is the one part ``"body"``."""
        return self.version < self.kind.since

    @property
    def metadata(self) -> Mapping[str, Any]:
        """The kind's own metadata (for a legacy folder, the manifest's other keys)."""
        if self.legacy:
            return {k: v for k, v in self.manifest.items() if k not in mf.LEGACY_KEYS}
        meta: Mapping[str, Any] = self.manifest.get("metadata", {})
        return meta

    @property
    def created(self) -> str | None:
        """The creation time (ISO 8601), if the artifact records one."""
        value = self.manifest.get("created")
        return value if isinstance(value, str) else None

    def part(self, name: str) -> bytes:
        """The bytes of one part; a missing part is named with the fix."""
        try:
            return self.parts[name]
        except KeyError:
            raise CorruptStateError(
                f"{mf.child(self.path, name, self.kind)}: missing from the {self.kind.noun} "
                f"(it has {', '.join(self.parts) or 'no parts'}); re-create it with "
                f"{self.kind.command}"
            ) from None

    def expect(self, required: Collection[str], optional: Collection[str] = ()) -> None:
        """Refuse a bundle whose parts are not ``required`` (plus any of ``optional``)."""
        missing = sorted(set(required) - set(self.parts))
        extra = sorted(set(self.parts) - set(required) - set(optional))
        kind = self.kind
        if missing:
            names = ", ".join(mf.child(self.path, n, kind) for n in missing)
            raise CorruptStateError(
                f"{names}: missing from the {kind.noun} (format {self.version}); "
                f"re-create it with {kind.command}"
            )
        if extra:
            names = ", ".join(mf.child(self.path, n, kind) for n in extra)
            raise CorruptStateError(
                f"{names}: not a part of a {kind.noun} of format {self.version}; the "
                f"{kind.noun} was altered; re-create it with {kind.command}"
            )

    # -- writing ---------------------------------------------------------------------
    @classmethod
    def write(
        cls,
        path: str | os.PathLike[str],
        kind: Kind,
        version: int,
        parts: Mapping[str, Bytes],
        metadata: Mapping[str, Any] | None = None,
        *,
        created: str | None = None,
    ) -> Path:
        """Write an artifact atomically (a folder, or one file for a single-file kind).

        Parameters
        ----------
        path : path
            The folder or file.  An existing artifact of the same kind is replaced; a
            folder holding anything else is refused.
        kind : Kind
        version : int
            The format version the parts follow.
        parts : Mapping[str, bytes]
            Part name (letters, digits, ``_.-``; not ``manifest.json``) to bytes; a
            :class:`LazyParts` makes each only when it is written.
        metadata : Mapping, optional
            JSON-serializable values stored in the manifest.
        created : str, optional
            The creation time; default :func:`created_now`.

        Returns
        -------
        Path

        Raises
        ------
        ConfigError
            For a bad part name, bytes that are not bytes, or metadata that is not JSON.
        OutputError, SourceError
            When the path cannot be written or holds something else.
        """
        target = Path(path)
        if kind.single_file:
            write_bytes_atomic(target, cls.encode(kind, version, parts, metadata, created=created))
            return target
        meta = mf.plain_metadata(kind, version, metadata)
        names = mf.part_names(parts)
        _check_replaceable(target, kind)
        with atomic_outputs([target], folders=[True]) as (staging,):
            listed = {}
            for name in names:
                data = mf.part_bytes(name, parts[name])
                (staging / name).write_bytes(data)
                listed[name] = mf.entry(data)
            manifest = mf.new_manifest(kind, version, listed, meta, created)
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        return target

    @classmethod
    def encode(
        cls,
        kind: Kind,
        version: int,
        parts: Mapping[str, Bytes],
        metadata: Mapping[str, Any] | None = None,
        *,
        created: str | None = None,
    ) -> bytes:
        """The single-file image of an artifact (what :meth:`write` saves for such a kind)."""
        if kind.magic is None:
            raise ConfigError(f"a {kind.noun} is a folder; it has no single-file form")
        meta = mf.plain_metadata(kind, version, metadata)
        datas = [(name, mf.part_bytes(name, parts[name])) for name in mf.part_names(parts)]
        listed = {name: mf.entry(data) for name, data in datas}
        text = json.dumps(mf.new_manifest(kind, version, listed, meta, created)).encode()
        body = b"".join([_U32.pack(len(text)), text, *(data for _, data in datas)])
        return _HEAD.pack(kind.magic, version, hashlib.sha256(body).digest(), len(body)) + body

    # -- reading ---------------------------------------------------------------------
    @classmethod
    def read(cls, path: str | os.PathLike[str], kind: Kind, max_version: int) -> Bundle:
        """Read and verify an artifact of ``kind`` in format ``max_version`` or older.

        Raises
        ------
        SourceError
            When the path is missing, unreadable, or holds something else (another kind).
        CorruptStateError
            When the artifact is damaged, truncated, incomplete, has unlisted parts, or is
            newer than ``max_version``.
        """
        source = Path(path)
        if kind.single_file:
            return cls.decode(_read_file(source, kind), kind, max_version, name=str(source))
        return _read_folder(source, kind, max_version)

    @classmethod
    def decode(cls, data: bytes, kind: Kind, max_version: int, *, name: str) -> Bundle:
        """Verify and split a single-file image; ``name`` is the file in messages."""
        version = _check_head(data, kind, max_version, name)
        if version < kind.since:
            _, _, digest = _LEGACY_HEAD.unpack_from(data)
            body = data[_LEGACY_HEAD.size :]
            mf.check_part(name, body, None, digest.hex(), kind)
            return cls(kind, version, {"body": body}, {}, name)
        if len(data) < _HEAD.size:
            raise mf.truncated(name, len(data), _HEAD.size, kind)
        _, _, digest, length = _HEAD.unpack_from(data)
        body = data[_HEAD.size :]
        if len(body) < length:
            raise mf.truncated(name, len(data), _HEAD.size + length, kind)
        if len(body) > length:
            raise CorruptStateError(
                f"{name}: {len(body) - length:,} bytes after the end of the {kind.noun}: the "
                f"file was altered or damaged; re-create it with {kind.command}"
            )
        mf.check_part(name, body, None, digest.hex(), kind)
        return _split_body(body, kind, version, name)


# -- the single file -------------------------------------------------------------------
def _check_head(data: bytes, kind: Kind, max_version: int, name: str) -> int:
    """Check magic and version of a single-file image; return the version."""
    magic = bytes(data[:8])
    if magic != kind.magic:
        other = mf.other_kind(magic)
        if other is not None:
            raise SourceError(f"{name} is a {other.noun}, not a {kind.noun}; check the path")
        raise CorruptStateError(f"{name} is not a suture {kind.noun} (wrong magic bytes)")
    if len(data) < _LEGACY_HEAD.size:
        raise mf.truncated(name, len(data), _LEGACY_HEAD.size, kind)
    (version,) = struct.unpack_from("<H", data, 8)
    return mf.check_version(name, int(version), kind, max_version)


def _read_file(source: Path, kind: Kind) -> bytes:
    if source.is_dir():
        found = _folder_kind(source)
        what = f"a {found.noun}" if found is not None else "a folder"
        raise SourceError(f"{source} is {what}, not a {kind.noun}; check the path")
    try:
        return source.read_bytes()
    except FileNotFoundError:
        raise SourceError(f"{source}: no such {kind.noun} file; check the path") from None
    except OSError as exc:
        raise SourceError(
            f"{source}: cannot read the {kind.noun} ({exc.strerror}); check its permissions"
        ) from None


def _split_body(body: bytes, kind: Kind, version: int, name: str) -> Bundle:
    """Parse a verified single-file body: the manifest, then the parts in order."""
    try:
        (size,) = _U32.unpack_from(body)
        manifest = json.loads(body[4 : 4 + size])
    except (struct.error, ValueError) as exc:
        raise CorruptStateError(
            f"{name}: the manifest cannot be read ({exc}); re-create it with {kind.command}"
        ) from None
    listed = mf.check_manifest(manifest, name, kind, version)
    parts: dict[str, bytes] = {}
    offset = 4 + size
    for part, entry in listed.items():
        data = body[offset : offset + entry["size"]]
        offset += entry["size"]
        if len(data) != entry["size"]:
            raise mf.truncated(name, len(body), offset, kind)
        mf.check_part(mf.child(name, part, kind), data, None, entry["sha256"], kind)
        parts[part] = data
    if offset != len(body):
        raise CorruptStateError(
            f"{name}: {len(body) - offset:,} bytes not listed in the manifest: the file was "
            f"altered; re-create it with {kind.command}"
        )
    return Bundle(kind, version, parts, manifest, name)


# -- the folder ------------------------------------------------------------------------
def _folder_kind(folder: Path) -> Kind | None:
    """The kind named by a folder's manifest, if it has a readable suture one."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return KINDS.get(str(manifest.get("format"))) if isinstance(manifest, dict) else None


def _check_replaceable(target: Path, kind: Kind) -> None:
    """Refuse to replace a folder that holds anything but an artifact of ``kind``."""
    if not target.is_dir() or not any(target.iterdir()):
        return
    found = _folder_kind(target)
    if found is None:
        raise SourceError(
            f"{target}: the folder exists and is not a {kind.noun}; choose an empty or new folder"
        )
    if found != kind:
        raise SourceError(f"{target} is a {found.noun}, not a {kind.noun}; choose another folder")


def _read_folder(folder: Path, kind: Kind, max_version: int) -> Bundle:
    manifest = _folder_manifest(folder, kind)
    name = str(folder / MANIFEST)
    version = mf.check_version(str(folder), manifest.get("format_version"), kind, max_version)
    if version < kind.since:
        listed = mf.legacy_listing(manifest, name, kind)
    else:
        listed = {
            part: (entry["size"], entry["sha256"])
            for part, entry in mf.check_manifest(manifest, name, kind, version).items()
        }
    present = {p.name for p in folder.iterdir()} - {MANIFEST}
    missing = sorted(set(listed) - present)
    if missing:
        names = ", ".join(str(folder / m) for m in missing)
        raise CorruptStateError(
            f"{names}: missing (listed in {MANIFEST}): the {kind.noun} is incomplete; "
            f"re-create it with {kind.command}"
        )
    extra = sorted(present - set(listed))
    if extra:
        names = ", ".join(str(folder / e) for e in extra)
        raise CorruptStateError(
            f"{names}: not listed in {MANIFEST}: something was added to the {kind.noun}; "
            f"remove it or re-create the {kind.noun} with {kind.command}"
        )
    parts = {part: _read_part(folder / part, *listed[part], kind) for part in sorted(listed)}
    return Bundle(kind, version, parts, manifest, str(folder))


def _folder_manifest(folder: Path, kind: Kind) -> dict[str, Any]:
    if not folder.is_dir():
        if folder.is_file():
            other = mf.other_kind(_head_of(folder))
            what = f"a {other.noun}" if other is not None else "a file"
            raise SourceError(f"{folder} is {what}, not a {kind.noun} folder; check the path")
        raise SourceError(f"{folder}: no such {kind.noun} folder; check the path")
    file = folder / MANIFEST
    if not file.exists():
        raise SourceError(
            f"{folder}: not a {kind.noun} (no {MANIFEST}); create one with {kind.command}"
        )
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptStateError(
            f"{file}: not valid JSON ({exc}): the {kind.noun} was altered or damaged; "
            f"re-create it with {kind.command}"
        ) from None
    except OSError as exc:
        raise SourceError(f"{file}: cannot read ({exc.strerror}); check its permissions") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("format"), str):
        raise CorruptStateError(
            f"{file}: not a suture manifest: the {kind.noun} was altered or damaged; "
            f"re-create it with {kind.command}"
        )
    if manifest["format"] != kind.format:
        other = KINDS.get(manifest["format"])
        what = f"a {other.noun}" if other is not None else f"format {manifest['format']!r}"
        raise SourceError(f"{folder} is {what}, not a {kind.noun}; check the path")
    return manifest


def _head_of(file: Path) -> bytes:
    try:
        with file.open("rb") as handle:
            return handle.read(8)
    except OSError:
        return b""


def _read_part(file: Path, size: int | None, digest: str, kind: Kind) -> bytes:
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise SourceError(f"{file}: cannot read ({exc.strerror}); check its permissions") from None
    mf.check_part(str(file), data, size, digest, kind)
    return data
