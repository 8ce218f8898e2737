"""What the archive keeps of sensitive columns: a keyed hash, or nothing."""

from __future__ import annotations

import hashlib
import hmac
import stat
from pathlib import Path

import pytest

from suture.errors import ConfigError
from suture.schema import Schema
from suture.serve.redact import Redactor, canonical_text, resolve_hash_key
from tests.schema.test_sensitive_key import TEXT

# The serving contract of the schema tests, with the business key made sensitive too.
CONTRACT = Schema.loads(TEXT.replace("feature = false\n", "feature = false\nsensitive = true\n"))
KEY = b"k" * 32
RECORD = {"customer_id": "C-042", "income": 52000.0, "balance": 810.5, "extra": "x"}


def expected(value: str) -> str:
    return "hmac-sha256:" + hmac.new(KEY, value.encode(), hashlib.sha256).hexdigest()


def test_hash_mode_replaces_sensitive_values_with_their_keyed_hash() -> None:
    r = Redactor(CONTRACT, "hash", KEY)
    assert r.record(RECORD) == {
        "customer_id": expected("C-042"),
        "income": expected("52000"),
        "balance": 810.5,
        "extra": "x",
    }
    assert RECORD["income"] == 52000.0  # the input is left as it was
    # The same value hashes alike whether it came as an integer or a float ...
    assert r.record({"income": 52000})["income"] == expected("52000")
    # ... and differently under another key.
    assert Redactor(CONTRACT, "hash", b"o" * 32).record(RECORD)["income"] != expected("52000")
    assert r.record({"income": None}) == {"income": None}


def test_omit_mode_leaves_sensitive_fields_out() -> None:
    r = Redactor(CONTRACT, "omit", b"")
    assert r.record(RECORD) == {"balance": 810.5, "extra": "x"}


def test_explanations_lose_the_value_of_sensitive_columns_only() -> None:
    reasons = [
        {"column": "income", "value": 52000.0, "unit": "USD", "contribution": -0.4},
        {"column": "balance", "value": 810.5, "unit": None, "contribution": 1.2},
    ]
    hashed = Redactor(CONTRACT, "hash", KEY).explanation(reasons)
    assert hashed == [{**reasons[0], "value": expected("52000")}, reasons[1]]
    omitted = Redactor(CONTRACT, "omit", b"").explanation(reasons)
    assert omitted == [{"column": "income", "unit": "USD", "contribution": -0.4}, reasons[1]]


def test_a_sensitive_business_key_is_archived_hashed_so_outcomes_still_join() -> None:
    r = Redactor(CONTRACT, "hash", KEY)
    assert r.key("C-042") == expected("C-042") == r.record(RECORD)["customer_id"]
    plain = Schema.loads(
        '[contract]\nformat = 1\nkey = "id"\n\n[columns.id]\ntype = "identifier"\n'
    )
    assert Redactor(plain, "hash", b"").key(42) == "42"
    assert Redactor(plain, "hash", b"").key(None) is None
    with pytest.raises(ConfigError, match="the business key 'customer_id' is sensitive"):
        Redactor(CONTRACT, "omit", b"").key("C-042")


def test_canonical_text_of_values() -> None:
    assert [canonical_text(v) for v in (True, 3, 3.0, 2.5, "042", "b")] == [
        "true",
        "3",
        "3",
        "2.5",
        "042",
        "b",
    ]


def test_hash_mode_refuses_a_missing_or_short_key() -> None:
    with pytest.raises(ConfigError) as info:
        Redactor(CONTRACT, "hash", b"short")
    assert str(info.value) == (
        "--sensitive hash needs a secret key of at least 16 bytes to hash customer_id, income "
        "(got 5); pass --hash-key-file or set SUTURE_ARCHIVE_KEY, or use --sensitive omit"
    )
    with pytest.raises(ConfigError, match="--sensitive 'mask': expected hash or omit"):
        Redactor(CONTRACT, "mask", KEY)


def test_a_random_key_is_kept_beside_a_sqlite_archive(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    key = resolve_hash_key(url, "")
    path = tmp_path / "a.db.key"
    assert path.read_text() == key + "\n" and len(key) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_hash_key(url, "") == key  # the next start reuses it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.db.key"]
    assert resolve_hash_key(url, "given-key") == "given-key"
    assert resolve_hash_key(url, "", mode="omit") == ""
    with pytest.raises(ConfigError, match="PostgreSQL archive needs the key given"):
        resolve_hash_key("postgresql://u@h/db", "")
    path.write_text("tiny\n")
    with pytest.raises(ConfigError, match="holds 4 bytes, fewer than 16: restore it"):
        resolve_hash_key(url, "")
