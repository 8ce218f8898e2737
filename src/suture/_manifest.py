"""The manifest of an artifact, the kinds of artifact, and the checks of both.

Private: :mod:`suture.bundle` re-exports what is public (:class:`Kind`, the kinds,
:func:`created_now`) and does the reading and writing.  Every check here raises one
sentence that names the file, what is wrong and the fix.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suture.errors import ConfigError, CorruptStateError

__all__ = [
    "KINDS",
    "MANIFEST",
    "MANIFEST_VERSION",
    "MODEL",
    "PROFILE",
    "RECOMMENDER",
    "Kind",
    "created_now",
]

#: The manifest's file name in a folder artifact.
MANIFEST = "manifest.json"
#: The layout of the manifest itself (its keys); a newer layout is refused.
MANIFEST_VERSION = 1
#: The top-level keys of a legacy (format 1) folder manifest that are not metadata.
LEGACY_KEYS = ("format", "format_version", "suture_version", "files")

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
        The first format version written by :mod:`suture.bundle`; older versions are
        legacy (read with their own layout: see ``Bundle.legacy``).
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

    Raises
    ------
    ConfigError
        When ``SOURCE_DATE_EPOCH`` is set to something other than whole seconds.
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


def other_kind(magic: bytes) -> Kind | None:
    """The kind whose single file opens with ``magic``, if any."""
    return next((k for k in KINDS.values() if k.magic is not None and k.magic == magic), None)


# -- writing -----------------------------------------------------------------------------
def part_names(parts: Mapping[str, Any]) -> list[str]:
    """The part names in order (so bytes never depend on a mapping's order), checked."""
    names = list(parts)
    for name in names:
        if not isinstance(name, str) or not _PART_NAME.match(name) or name == MANIFEST:
            raise ConfigError(
                f"part name {name!r} is not allowed: use letters, digits, '_', '.' and '-' "
                f"(not starting with '.' or '-', at most 128 characters), and not {MANIFEST}"
            )
    return sorted(names)


def part_bytes(name: str, data: Any) -> bytes | bytearray | memoryview:
    """``data`` if it is bytes-like, else a :class:`ConfigError` naming the part."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ConfigError(f"part {name!r} is a {type(data).__name__}, not bytes")
    return data


def entry(data: bytes | bytearray | memoryview) -> dict[str, Any]:
    """A part's line in the manifest: its size and SHA-256."""
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def plain_metadata(kind: Kind, version: int, metadata: Mapping[str, Any] | None) -> Any:
    """Check the version a writer names and return its metadata as plain JSON values."""
    if isinstance(version, bool) or not isinstance(version, int) or version < kind.since:
        raise ConfigError(
            f"{kind.noun} format version must be an integer of at least {kind.since}, "
            f"not {version!r}"
        )
    try:
        return json.loads(json.dumps(dict(metadata or {}), allow_nan=False, default=_scalar))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{kind.noun} metadata must be plain JSON values ({exc})") from None


def _scalar(value: Any) -> Any:
    """A NumPy scalar (``np.int64(3)``) as the Python number it holds; nothing else."""
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return value.item()
    raise TypeError(f"{type(value).__name__} {value!r} is not a JSON value")


def new_manifest(
    kind: Kind, version: int, listed: Mapping[str, Any], metadata: Any, created: str | None
) -> dict[str, Any]:
    """The manifest of a new artifact (``metadata`` from :func:`plain_metadata`)."""
    from suture import __version__

    manifest: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "format": kind.format,
        "format_version": version,
        "suture_version": __version__,
        "created": created if created is not None else created_now(),
        "metadata": metadata,
        "parts": dict(listed),
    }
    manifest["manifest_sha256"] = manifest_digest(manifest)
    return manifest


def manifest_digest(manifest: Mapping[str, Any]) -> str:
    """SHA-256 of the manifest without its creation time and this digest: so two saves of
    one state differ only in ``created``, and every other field is still verified."""
    checked = {k: v for k, v in manifest.items() if k not in _UNCHECKED}
    text = json.dumps(checked, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


# -- checks ------------------------------------------------------------------------------
def child(path: str, name: str, kind: Kind) -> str:
    """How messages name part ``name`` of the artifact at ``path``."""
    if kind.single_file:
        return f"{path}[{name}]" if path else name
    return str(Path(path) / name) if path else name


def _short(digest: str) -> str:
    return digest[:8] + "..."


def check_part(name: str, data: bytes, size: int | None, digest: str, kind: Kind) -> None:
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


def truncated(name: str, size: int, expected: int, kind: Kind) -> CorruptStateError:
    """The refusal of a file shorter than its header says."""
    return CorruptStateError(
        f"{name}: truncated ({size:,} bytes, expected {expected:,}): the file was cut short, "
        f"perhaps by an interrupted copy; re-create it with {kind.command}"
    )


def check_version(name: str, version: Any, kind: Kind, max_version: int) -> int:
    """The format version, refused when it is not one or is newer than ``max_version``."""
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


def check_manifest(manifest: Any, name: str, kind: Kind, version: int) -> dict[str, Any]:
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
    expected = manifest.get("manifest_sha256")
    if (
        layout != MANIFEST_VERSION
        or manifest.get("format") != kind.format
        or manifest.get("format_version") != version
        or not isinstance(listed, dict)
        or not all(_valid_entry(e) for e in listed.values())
        or not isinstance(expected, str)
    ):
        raise bad
    got = manifest_digest(manifest)
    if got != expected:
        raise CorruptStateError(
            f"{name}: SHA-256 mismatch of the manifest (expected {_short(expected)}, got "
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


def legacy_listing(
    manifest: Mapping[str, Any], name: str, kind: Kind
) -> dict[str, tuple[int | None, str]]:
    """A legacy manifest lists ``files``: part name to SHA-256 (no sizes)."""
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise CorruptStateError(
            f"{name}: the manifest lists no files: the {kind.noun} was altered or damaged; "
            f"re-create it with {kind.command}"
        )
    return {part: (None, digest) for part, digest in files.items()}
