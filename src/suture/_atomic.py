"""Outputs that appear complete or not at all (re-exported by :mod:`suture.bundle`).

Every file or folder suture writes is first written under a hidden temporary name in the
target's own folder (so the final rename stays on one file system) and renamed into
place only when complete.  On any failure the temporaries are removed and an existing
output of the same name is left byte for byte as it was.  Several outputs of one command
(a profile and its HTML report, valid rows and quarantine) are renamed together at the
end: either all are replaced or none is.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from suture.errors import OutputError, SutureError

__all__ = ["atomic_outputs", "check_output", "write_bytes_atomic"]


def check_output(target: str | os.PathLike[str], *, folder: bool = False) -> Path:
    """Refuse, before any work is done, an output path that cannot be written.

    Parameters
    ----------
    target : path
        Where the output will go.
    folder : bool, default False
        The output is a folder (a bundle, a Spark Parquet folder); else a file.

    Raises
    ------
    OutputError
        When the parent folder is missing or is a file, when a file output names an
        existing folder (or a folder output an existing file), or when the parent folder
        is not writable.  The message names the path and the fix.
    """
    path = Path(target)
    parent = path.parent if str(path.parent) else Path(".")
    what = "folder" if folder else "file"
    if str(path) in ("", ".", "..") or path.name in ("", ".", ".."):
        raise OutputError(f"{path}: not a {what} name; give a path such as out/{_example(folder)}")
    if not parent.exists():
        raise OutputError(f"{path}: the folder {parent} does not exist; create it first")
    if not parent.is_dir():
        raise OutputError(f"{path}: {parent} is a file, not a folder; choose another path")
    if path.is_dir() and not folder:
        raise OutputError(f"{path} is a folder; give a file name for the output")
    if path.exists() and not path.is_dir() and folder:
        raise OutputError(f"{path} is a file; give a folder name for the output")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: the folder {parent} is not writable; choose another path")
    return path


def _example(folder: bool) -> str:
    return "model/" if folder else "result.profile"


def _temporary(target: Path, folder: bool) -> Path:
    parent = target.parent if str(target.parent) else Path(".")
    prefix = f".{target.name}.suture-"
    if folder:
        return Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=parent))
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=parent)
    os.close(fd)
    return Path(name)


def _plain_mode(path: Path, folder: bool) -> None:
    # mkstemp and mkdtemp make private entries (0600, 0700); give the mode a plain
    # write would have.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if folder else 0o666) & ~umask)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _replace(temporary: Path, target: Path) -> None:
    if temporary.is_dir() and target.is_dir():
        # A folder cannot be renamed over a non-empty folder: move the old one aside first.
        aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        aside.rmdir()
        os.replace(target, aside)
        try:
            os.replace(temporary, target)
        except BaseException:
            os.replace(aside, target)
            raise
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(temporary, target)


@contextmanager
def atomic_outputs(
    targets: Sequence[str | os.PathLike[str]], *, folders: Sequence[bool] | None = None
) -> Iterator[list[Path]]:
    """Write several outputs under temporary names; rename them all into place at the end.

    Parameters
    ----------
    targets : sequence of paths
        The final paths.  Each is checked with :func:`check_output` first.
    folders : sequence of bool, optional
        Which targets are folders (default: none).  A folder's temporary exists and is
        empty when the block starts; a file's temporary exists and is empty.

    Yields
    ------
    list of Path
        The temporary path of each target, in the same order: write there.

    Notes
    -----
    When the block raises, every temporary is removed and no target is touched.  The
    renames happen only after the block returned, one after another; a rename of one
    output of several fails only if the file system does (for example a disk pulled out).

    Examples
    --------
    >>> with atomic_outputs(["out.profile", "out.html"]) as (profile, html):  # doctest: +SKIP
    ...     profile.write_bytes(data)
    ...     html.write_text(page)
    """
    kinds = list(folders) if folders is not None else [False] * len(targets)
    if len(kinds) != len(targets):
        raise ValueError("atomic_outputs: one folders flag per target")
    finals = [check_output(t, folder=f) for t, f in zip(targets, kinds, strict=True)]
    if len({p.resolve() for p in finals}) != len(finals):
        raise OutputError(
            "two outputs of one command name the same path: "
            + ", ".join(str(p) for p in finals)
            + "; give each its own"
        )
    temporaries: list[Path] = []
    try:
        for final, folder in zip(finals, kinds, strict=True):
            temporaries.append(_temporary(final, folder))
        yield list(temporaries)
        for temporary, folder in zip(temporaries, kinds, strict=True):
            _plain_mode(temporary, folder)
        for temporary, final in zip(temporaries, finals, strict=True):
            _replace(temporary, final)
    except OSError as exc:
        if isinstance(exc, SutureError):
            raise  # an input's error (a SourceError is an OSError too) passes as it is
        raise OutputError(
            f"{finals[0] if len(finals) == 1 else ', '.join(map(str, finals))}: cannot write "
            f"({exc.strerror or exc}); check the disk space and permissions"
        ) from None
    finally:
        for temporary in temporaries:
            if temporary.exists():
                _remove(temporary)


def write_bytes_atomic(target: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically (see :func:`atomic_outputs`)."""
    with atomic_outputs([target]) as (temporary,):
        temporary.write_bytes(data)
    return Path(target)
