"""A recommender on disk: a folder of NumPy and Parquet files with a checksummed manifest.

Layout (format version 1)::

    recs/
      manifest.json          suture version, format version, parameters, LSH, sha256 per file
      item_ids.parquet       one column "id": the item identifiers, in key order
      user_ids.parquet       one column "id": the user identifiers, in key order
      *.npy                  keys, signatures, counts, history pairs, neighbour lists

No file is a pickle (``np.load(..., allow_pickle=False)``).  Loading checks every
checksum and refuses damaged bundles and bundles from a newer format.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from suture.errors import CorruptStateError, SourceError
from suture.recommend._lsh import LSHParams, Neighbours
from suture.recommend._signatures import SignatureState, check_state

if TYPE_CHECKING:
    from suture.recommend._model import Recommender

__all__ = ["FORMAT", "FORMAT_VERSION", "load_bundle", "save_bundle"]

FORMAT = "suture.recommend"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_STATE_ARRAYS = ("item_keys", "signatures", "counts", "user_keys", "pair_users", "pair_items")
_NEIGHBOUR_ARRAYS = ("indptr", "items", "similarity", "weight")


def _suture_version() -> str:
    try:
        return metadata.version("suture")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _arrays(model: Recommender) -> dict[str, np.ndarray[Any, Any]]:
    state, nb = model.state_, model.neighbours_
    arrays: dict[str, np.ndarray[Any, Any]] = {n: getattr(state, n) for n in _STATE_ARRAYS}
    arrays.update({f"neighbours_{n}": getattr(nb, n) for n in _NEIGHBOUR_ARRAYS})
    return arrays


def save_bundle(model: Recommender, path: Path) -> Path:
    """Write ``model`` to the folder ``path`` (replacing a bundle already there).

    The files are written to a temporary sibling folder first and moved into place, so a
    crash never leaves a half-written bundle under ``path``.
    """
    if path.exists() and not (path / MANIFEST).exists() and any(path.iterdir()):
        raise SourceError(
            f"{path}: the folder exists and is not a recommender bundle; "
            "choose an empty or new folder for -o"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    staging.chmod(0o755)
    try:
        files: dict[str, str] = {}
        for name, array in _arrays(model).items():
            np.save(staging / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
            files[f"{name}.npy"] = _sha256(staging / f"{name}.npy")
        for name, ids in (("item_ids", model.state_.item_ids), ("user_ids", model.state_.user_ids)):
            pq.write_table(pa.table({"id": ids}), staging / f"{name}.parquet")
            files[f"{name}.parquet"] = _sha256(staging / f"{name}.parquet")
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "suture_version": _suture_version(),
            "params": model.get_params(),
            "lsh": {"bands": model.lsh_.bands, "rows": model.lsh_.rows},
            "items": model.state_.num_items,
            "users": len(model.state_.user_keys),
            "interactions": len(model.state_.pair_users),
            "dropped_rows": model.state_.dropped,
            "files": files,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        if path.exists():
            shutil.rmtree(path)
        staging.rename(path)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return path


def read_manifest(path: Path) -> dict[str, Any]:
    """Read and check the manifest of a bundle folder."""
    file = path / MANIFEST
    if not file.exists():
        raise SourceError(
            f"{path}: not a recommender bundle (no {MANIFEST}); "
            "build one with `suture recommend fit ... -o <folder>`"
        )
    try:
        manifest = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptStateError(f"possible corruption: {file} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CorruptStateError(f"possible corruption: {file} is not a {FORMAT} manifest")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CorruptStateError(
            f"{path}: bundle format version {version} is newer than this suture reads "
            f"({FORMAT_VERSION}); upgrade suture to load it"
        )
    return manifest


def _verified(path: Path, manifest: dict[str, Any]) -> dict[str, Path]:
    files: dict[str, str] = manifest.get("files", {})
    checked: dict[str, Path] = {}
    for name, expected in files.items():
        file = path / name
        if not file.exists():
            raise CorruptStateError(f"possible corruption: {file} is missing from the bundle")
        if _sha256(file) != expected:
            raise CorruptStateError(
                f"possible corruption: {file} does not match its checksum in {MANIFEST}; "
                "the bundle was modified or damaged, rebuild it with `suture recommend fit`"
            )
        checked[name] = file
    return checked


def _load_array(files: dict[str, Path], name: str) -> np.ndarray[Any, Any]:
    file = files.get(f"{name}.npy")
    if file is None:
        raise CorruptStateError(f"possible corruption: the bundle manifest lists no {name}.npy")
    try:
        array: np.ndarray[Any, Any] = np.load(file, allow_pickle=False)
    except ValueError as exc:
        raise CorruptStateError(f"possible corruption: cannot read {file} ({exc})") from None
    return array


def _load_ids(files: dict[str, Path], name: str) -> pa.Array:
    file = files.get(f"{name}.parquet")
    if file is None:
        raise CorruptStateError(f"possible corruption: the bundle manifest lists no {name}.parquet")
    try:
        return pq.read_table(file).column("id").combine_chunks()
    except (pa.ArrowInvalid, KeyError, OSError) as exc:
        raise CorruptStateError(f"possible corruption: cannot read {file} ({exc})") from None


def load_bundle(path: Path) -> Recommender:
    """Load and verify a bundle written by :func:`save_bundle`."""
    from suture.recommend._model import Recommender

    if not path.is_dir():
        raise SourceError(f"{path}: no such bundle folder; check the path")
    manifest = read_manifest(path)
    files = _verified(path, manifest)
    model = Recommender(**manifest["params"])
    arrays = {n: _load_array(files, n) for n in _STATE_ARRAYS}
    state = SignatureState(
        item_keys=arrays["item_keys"],
        item_ids=_load_ids(files, "item_ids"),
        signatures=arrays["signatures"],
        counts=arrays["counts"],
        user_keys=arrays["user_keys"],
        user_ids=_load_ids(files, "user_ids"),
        pair_users=arrays["pair_users"],
        pair_items=arrays["pair_items"],
        dropped=int(manifest.get("dropped_rows", 0)),
    )
    check_state(state, model.num_perm)
    nb = Neighbours(*(_load_array(files, f"neighbours_{n}") for n in _NEIGHBOUR_ARRAYS))
    lsh = LSHParams(manifest["lsh"]["bands"], manifest["lsh"]["rows"], model.threshold)
    return model._attach(state, lsh, nb)
