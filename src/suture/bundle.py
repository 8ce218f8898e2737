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
>>> path = Bundle.write("recs", RECOMMENDER, 2, {"a.npy": data}, {"rows": 3})  # doctest: +SKIP
>>> Bundle.read("recs", RECOMMENDER, max_version=2).part("a.npy")            # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import struct
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suture._atomic import atomic_outputs, check_output, write_bytes_atomic
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
    "atomic_outputs",
    "check_output",
    "created_now",
    "write_bytes_atomic",
]

#: The manifest's file name in a folder artifact.
MANIFEST = "manifest.json"
#: The layout of the manifest itself (its keys); a newer layout is refused.
MANIFEST_VERSION = 1

_LEGACY_HEAD = struct.Struct("<8sH32s")  # magic, format version, SHA-256 of the rest
_HEAD = struct.Struct("<8sH32sQ")  # ... and the body's length
_U32 = struct.Struct("<I")
_PART_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
_UNCHECKED = ("created", "manifest_sha256")  # left out of the manifest's own digest


@dataclass(frozen=True)
class Kind:
    """One kind of artifact: its format name, how messages call it, and its form.

    Parameters
    ----------
    format : str
        The name in the manifest, e.g. ``"suture.recommend"``.
    noun : str
        What messages call it: "recommender bundle".
    command : str
        The command that re-creates it, named in the fix of every damage message.
    magic : bytes, optional
        Eight bytes that open the single-file form; ``None`` for a folder.
    since : int, default 1
        The first format version written by this module; older versions are legacy (read
        with their own layout: see :attr:`Bundle.legacy`).
    """

    format: str
    noun: str
    command: str
    magic: bytes | None = None
    since: int = 1

    @property
    def single_file(self) -> bool:
        """Whether artifacts of this kind are one file (else a folder)."""
        return self.magic is not None


PROFILE = Kind("suture.profile", "profile", "suture profile", magic=b"SUTUREPF", since=2)
RECOMMENDER = Kind("suture.recommend", "recommender bundle", "suture recommend fit", since=2)
MODEL = Kind("suture.model", "model bundle", "suture train")

#: Every kind, by format name: how a wrong-kind refusal names what it found.
KINDS: dict[str, Kind] = {k.format: k for k in (PROFILE, RECOMMENDER, MODEL)}


def created_now() -> str:
    """The creation time stamped on artifacts: now, or ``SOURCE_DATE_EPOCH`` when set.

    ``SOURCE_DATE_EPOCH`` (seconds since 1970, the reproducible-builds convention) makes
    two saves of the same state byte-identical.
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            moment = dt.datetime.fromtimestamp(int(epoch), dt.UTC)
        except (ValueError, OverflowError, OSError):
            raise ConfigError(
                f"SOURCE_DATE_EPOCH={epoch!r}: expected whole seconds since 1970-01-01; "
                "set it to an integer such as 1700000000 or unset it"
            ) from None
    else:
        moment = dt.datetime.now(dt.UTC)
    return moment.isoformat(timespec="seconds")


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
            return {k: v for k, v in self.manifest.items() if k not in _LEGACY_KEYS}
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
                f"{_child(self.path, name, self.kind)}: missing from the {self.kind.noun} "
                f"(it has {', '.join(self.parts) or 'no parts'}); re-create it with "
                f"{self.kind.command}"
            ) from None

    def expect(self, required: Collection[str], optional: Collection[str] = ()) -> None:
        """Refuse a bundle whose parts are not ``required`` (plus any of ``optional``)."""
        missing = sorted(set(required) - set(self.parts))
        extra = sorted(set(self.parts) - set(required) - set(optional))
        if missing:
            names = ", ".join(_child(self.path, n, self.kind) for n in missing)
            raise CorruptStateError(
                f"{names}: missing from the {self.kind.noun} (format {self.version}); "
                f"re-create it with {self.kind.command}"
            )
        if extra:
            names = ", ".join(_child(self.path, n, self.kind) for n in extra)
            raise CorruptStateError(
                f"{names}: not a part of a {self.kind.noun} of format {self.version}; the "
                f"{self.kind.noun} was altered; re-create it with {self.kind.command}"
            )

    # -- writing ---------------------------------------------------------------------
    @classmethod
    def write(
        cls,
        path: str | os.PathLike[str],
        kind: Kind,
        version: int,
        parts: Mapping[str, bytes],
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
            Part name (letters, digits, ``_.-``; not ``manifest.json``) to bytes.
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
        _check_replaceable(target, kind)
        with atomic_outputs([target], folders=[True]) as (staging,):
            listed = {}
            for name, data in _ordered(parts):
                (staging / name).write_bytes(data)
                listed[name] = _entry(data)
            manifest = _manifest(kind, version, listed, metadata, created)
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        return target

    @classmethod
    def encode(
        cls,
        kind: Kind,
        version: int,
        parts: Mapping[str, bytes],
        metadata: Mapping[str, Any] | None = None,
        *,
        created: str | None = None,
    ) -> bytes:
        """The single-file image of an artifact (what :meth:`write` saves for such a kind)."""
        if kind.magic is None:
            raise ConfigError(f"a {kind.noun} is a folder; it has no single-file form")
        ordered = _ordered(parts)
        listed = {name: _entry(data) for name, data in ordered}
        text = json.dumps(_manifest(kind, version, listed, metadata, created)).encode()
        body = b"".join([_U32.pack(len(text)), text, *(data for _, data in ordered)])
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
            _check_part(name, body, None, digest.hex(), kind)
            return cls(kind, version, {"body": body}, {}, name)
        if len(data) < _HEAD.size:
            raise _truncated(name, len(data), _HEAD.size, kind)
        _, _, digest, length = _HEAD.unpack_from(data)
        body = data[_HEAD.size :]
        if len(body) < length:
            raise _truncated(name, len(data), _HEAD.size + length, kind)
        if len(body) > length:
            raise CorruptStateError(
                f"{name}: {len(body) - length:,} bytes after the end of the {kind.noun}: the "
                f"file was altered or damaged; re-create it with {kind.command}"
            )
        _check_part(name, body, None, digest.hex(), kind)
        return _split_body(body, kind, version, name)


_LEGACY_KEYS = ("format", "format_version", "suture_version", "files")


def _suture_version() -> str:
    from suture import __version__

    return __version__


def _ordered(parts: Mapping[str, bytes]) -> list[tuple[str, bytes]]:
    """The parts in name order (so the bytes never depend on a mapping's order), checked."""
    ordered = []
    for name in sorted(parts):
        if not isinstance(name, str) or not _PART_NAME.match(name) or name == MANIFEST:
            raise ConfigError(
                f"part name {name!r} is not allowed: use letters, digits, '_', '.' and '-' "
                f"(not starting with '.' or '-', at most 128 characters), and not {MANIFEST}"
            )
        data = parts[name]
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ConfigError(f"part {name!r} is a {type(data).__name__}, not bytes")
        ordered.append((name, bytes(data)))
    return ordered


def _entry(data: bytes) -> dict[str, Any]:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _manifest(
    kind: Kind,
    version: int,
    listed: Mapping[str, Any],
    metadata: Mapping[str, Any] | None,
    created: str | None,
) -> dict[str, Any]:
    if isinstance(version, bool) or not isinstance(version, int) or version < kind.since:
        raise ConfigError(
            f"{kind.noun} format version must be an integer of at least {kind.since}, "
            f"not {version!r}"
        )
    try:
        meta = json.loads(json.dumps(dict(metadata or {}), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{kind.noun} metadata must be plain JSON values ({exc})") from None
    manifest: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "format": kind.format,
        "format_version": version,
        "suture_version": _suture_version(),
        "created": created if created is not None else created_now(),
        "metadata": meta,
        "parts": dict(listed),
    }
    manifest["manifest_sha256"] = _manifest_digest(manifest)
    return manifest


def _manifest_digest(manifest: Mapping[str, Any]) -> str:
    """SHA-256 of the manifest without its creation time and this digest: so two saves of
    one state differ only in ``created``, and every other field is still verified."""
    checked = {k: v for k, v in manifest.items() if k not in _UNCHECKED}
    text = json.dumps(checked, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _child(path: str, name: str, kind: Kind) -> str:
    if kind.single_file:
        return f"{path}[{name}]" if path else name
    return str(Path(path) / name) if path else name


def _short(digest: str) -> str:
    return digest[:8] + "..."


def _check_part(name: str, data: bytes, size: int | None, digest: str, kind: Kind) -> None:
    """Check one part's (or a whole body's) size, when known, and SHA-256."""
    if size is not None and len(data) != size:
        raise CorruptStateError(
            f"{name}: {len(data):,} bytes, the manifest lists {size:,}: the {kind.noun} was "
            f"truncated or altered; re-create it with {kind.command}"
        )
    got = hashlib.sha256(data).hexdigest()
    if got != digest:
        raise CorruptStateError(
            f"{name}: SHA-256 mismatch (expected {_short(digest)}, got {_short(got)}): the "
            f"{kind.noun} was altered or damaged; re-create it with {kind.command}"
        )


def _truncated(name: str, size: int, expected: int, kind: Kind) -> CorruptStateError:
    return CorruptStateError(
        f"{name}: truncated ({size:,} bytes, expected {expected:,}): the file was cut short, "
        f"perhaps by an interrupted copy; re-create it with {kind.command}"
    )


def _other_kind(magic: bytes) -> Kind | None:
    return next((k for k in KINDS.values() if k.magic is not None and k.magic == magic), None)


def _check_head(data: bytes, kind: Kind, max_version: int, name: str) -> int:
    """Check magic and version of a single-file image; return the version."""
    magic = bytes(data[:8])
    if magic != kind.magic:
        other = _other_kind(magic)
        if other is not None:
            raise SourceError(f"{name} is a {other.noun}, not a {kind.noun}; check the path")
        raise CorruptStateError(f"{name} is not a suture {kind.noun} (wrong magic bytes)")
    if len(data) < _LEGACY_HEAD.size:
        raise _truncated(name, len(data), _LEGACY_HEAD.size, kind)
    (version,) = struct.unpack_from("<H", data, 8)
    return _check_version(name, int(version), kind, max_version)


def _check_version(name: str, version: Any, kind: Kind, max_version: int) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CorruptStateError(
            f"{name}: format version {version!r} is not a version: the {kind.noun} was "
            f"altered or damaged; re-create it with {kind.command}"
        )
    if version > max_version:
        raise CorruptStateError(
            f"{name}: {kind.noun} format {version}, newer than this suture reads "
            f"({max_version}); upgrade suture"
        )
    return version


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


def _split_body(body: bytes, kind: Kind, version: int, name: str) -> Bundle:
    """Parse a verified single-file body: the manifest, then the parts in order."""
    try:
        (size,) = _U32.unpack_from(body)
        manifest = json.loads(body[4 : 4 + size])
    except (struct.error, ValueError) as exc:
        raise CorruptStateError(
            f"{name}: the manifest cannot be read ({exc}); re-create it with {kind.command}"
        ) from None
    listed = _check_manifest(manifest, name, kind, version)
    parts: dict[str, bytes] = {}
    offset = 4 + size
    for part, entry in listed.items():
        data = body[offset : offset + entry["size"]]
        offset += entry["size"]
        if len(data) != entry["size"]:
            raise _truncated(name, len(body), offset, kind)
        _check_part(_child(name, part, kind), data, None, entry["sha256"], kind)
        parts[part] = data
    if offset != len(body):
        raise CorruptStateError(
            f"{name}: {len(body) - offset:,} bytes not listed in the manifest: the file was "
            f"altered; re-create it with {kind.command}"
        )
    return Bundle(kind, version, parts, manifest, name)


def _check_manifest(manifest: Any, name: str, kind: Kind, version: int) -> dict[str, Any]:
    """Check a (non-legacy) manifest's layout, kind, version and digest; return its parts."""
    bad = CorruptStateError(
        f"{name}: the manifest is not a suture manifest: the {kind.noun} was altered or "
        f"damaged; re-create it with {kind.command}"
    )
    if not isinstance(manifest, dict):
        raise bad
    layout = manifest.get("manifest_version")
    if isinstance(layout, int) and layout > MANIFEST_VERSION:
        raise CorruptStateError(
            f"{name}: manifest layout {layout}, newer than this suture reads "
            f"({MANIFEST_VERSION}); upgrade suture"
        )
    listed = manifest.get("parts")
    if (
        layout != MANIFEST_VERSION
        or manifest.get("format") != kind.format
        or manifest.get("format_version") != version
        or not isinstance(listed, dict)
        or not all(_valid_entry(e) for e in listed.values())
    ):
        raise bad
    expected = manifest.get("manifest_sha256")
    if not isinstance(expected, str):
        raise bad
    got = _manifest_digest(manifest)
    if got != expected:
        raise CorruptStateError(
            f"{name}: SHA-256 mismatch of the manifest (expected {_short(str(expected))}, got "
            f"{_short(got)}): the {kind.noun} was altered or damaged; re-create it with "
            f"{kind.command}"
        )
    return listed


def _valid_entry(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("size"), int)
        and entry["size"] >= 0
        and isinstance(entry.get("sha256"), str)
    )


def _read_folder(folder: Path, kind: Kind, max_version: int) -> Bundle:
    manifest = _folder_manifest(folder, kind)
    name = str(folder / MANIFEST)
    version = _check_version(str(folder), manifest.get("format_version"), kind, max_version)
    if version < kind.since:
        listed = _legacy_listing(manifest, name, kind)
    else:
        listed = {
            part: (entry["size"], entry["sha256"])
            for part, entry in _check_manifest(manifest, name, kind, version).items()
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
    parts = {part: _read_part(folder / part, *entry, kind) for part, entry in listed.items()}
    return Bundle(kind, version, dict(sorted(parts.items())), manifest, str(folder))


def _folder_manifest(folder: Path, kind: Kind) -> dict[str, Any]:
    if not folder.is_dir():
        if folder.is_file():
            other = _other_kind(_head_of(folder))
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


def _legacy_listing(
    manifest: dict[str, Any], name: str, kind: Kind
) -> dict[str, tuple[int | None, str]]:
    """A legacy manifest lists ``files``: part name to SHA-256 (no sizes)."""
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise CorruptStateError(
            f"{name}: the manifest lists no files: the {kind.noun} was altered or damaged; "
            f"re-create it with {kind.command}"
        )
    return {part: (None, digest) for part, digest in files.items()}


def _read_part(file: Path, size: int | None, digest: str, kind: Kind) -> bytes:
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise SourceError(f"{file}: cannot read ({exc.strerror}); check its permissions") from None
    _check_part(str(file), data, size, digest, kind)
    return data
