"""Readable differences between two contracts (``suture diff old.toml new.toml``)."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

from suture.schema.types import Column, Derived

if TYPE_CHECKING:
    from suture.schema.contract import Schema

__all__ = ["diff"]


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(repr(v) for v in value) + "]"
    if isinstance(value, float) and value == int(value):
        return f"{int(value):,}"
    if isinstance(value, str):
        return repr(value) if value else "none"
    return repr(value) if value is not None else "none"


def _field_changes(kind: str, old: Column | Derived, new: Column | Derived) -> list[str]:
    out: list[str] = []
    for f in fields(old):
        if f.name in ("name", "note"):
            continue
        a, b = getattr(old, f.name), getattr(new, f.name)
        if a == b:
            continue
        if f.name == "levels":
            added = [v for v in b if v not in a]
            removed = [v for v in a if v not in b]
            parts = []
            if added:
                parts.append("added " + ", ".join(map(repr, added)))
            if removed:
                parts.append("removed " + ", ".join(map(repr, removed)))
            out.append(f"~ {kind} {old.name!r}: levels {'; '.join(parts) or 'reordered'}")
        else:
            out.append(f"~ {kind} {old.name!r}: {f.name} {_show(a)} -> {_show(b)}")
    return out


def diff(old: Schema, new: Schema) -> list[str]:
    """One line per change: ``+`` added, ``-`` removed, ``~`` changed, in contract order.

    The first line compares fingerprints (and says "no change" when nothing changed;
    ``sensitive`` and the ``key`` change the contract but not its fingerprint).
    """
    lines: list[str] = []
    if old.key != new.key:
        lines.append(f"~ key {_show(old.key)} -> {_show(new.key)}")
    for kind, a, b in (
        ("column", old.columns, new.columns),
        ("derived", old.derived, new.derived),
    ):
        before: dict[str, Any] = {c.name: c for c in a}
        after: dict[str, Any] = {c.name: c for c in b}
        for name, spec in before.items():
            if name not in after:
                lines.append(f"- {kind} {name!r} ({_summary(spec)})")
            else:
                lines += _field_changes(kind, spec, after[name])
        for name, spec in after.items():
            if name not in before:
                lines.append(f"+ {kind} {name!r} ({_summary(spec)})")
    if old.fingerprint != new.fingerprint:
        head = f"fingerprint {old.fingerprint} -> {new.fingerprint}"
    elif lines:  # sensitive or key: not rules of the data
        head = f"fingerprint {old.fingerprint} (the rules are the same)"
    else:
        head = f"no change (fingerprint {old.fingerprint})"
    return [head, *lines]


def _summary(spec: Column | Derived) -> str:
    if isinstance(spec, Derived):
        return f"= {spec.expr}"
    text = spec.type + (f" in {spec.unit}" if spec.unit else "")
    if spec.min is not None or spec.max is not None:
        text += f", {_show(spec.min)} to {_show(spec.max)}"
    return text
