"""Two contract fields for serving: ``sensitive = true`` columns and a business ``key``.

Neither is a rule of the data: contracts without them load, dump and fingerprint as
before, and adding them leaves the fingerprint as it is.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from suture.errors import SchemaError
from suture.schema import Column, Schema

GOLDEN = Path(__file__).parents[1] / "golden"

TEXT = """\
[contract]
format = 1
key = "customer_id"

[columns.customer_id]
type = "identifier"
nullable = false
feature = false

[columns.income]
type = "number"
unit = "USD"
nullable = false
sensitive = true
min = 0

[columns.balance]
type = "number"
min = 0

[columns.student]
type = "categorical"
levels = ["No", "Yes"]
"""


def test_sensitive_and_key_load_and_round_trip() -> None:
    schema = Schema.loads(TEXT)
    assert schema.key == "customer_id"
    assert schema.sensitive == frozenset({"income"})
    assert schema["income"].sensitive and not schema["balance"].sensitive
    text = schema.dumps()
    assert 'key = "customer_id"' in text.split("[columns.")[0]
    assert text.count("sensitive = true") == 1
    again = Schema.loads(text)
    assert again == schema and again.key == "customer_id" and again.sensitive == {"income"}


def test_neither_field_changes_the_fingerprint() -> None:
    text = TEXT.replace('key = "customer_id"\n', "").replace("sensitive = true\n", "")
    plain = Schema.loads(text)
    assert plain.key is None and plain.sensitive == frozenset()
    assert Schema.loads(TEXT).fingerprint == plain.fingerprint
    assert Schema.loads(TEXT) != plain  # but they are different contracts
    assert "sensitive" not in plain.dumps() and "key =" not in plain.dumps()


@pytest.mark.parametrize("path", ["contract_v1.toml", "model_v1/contract.toml"])
def test_golden_contracts_load_unchanged_with_their_stored_fingerprint(path: str) -> None:
    golden = Schema.load(GOLDEN / path)
    assert golden.fingerprint == golden.meta["stored_fingerprint"]
    assert golden.key is None and golden.sensitive == frozenset()
    assert Schema.loads(golden.dumps()).fingerprint == golden.fingerprint


def test_a_key_naming_no_column_is_refused_with_its_line_and_the_choices() -> None:
    with pytest.raises(SchemaError) as info:
        Schema.loads(TEXT.replace('key = "customer_id"', 'key = "client"'))
    assert str(info.value) == (
        "schema.toml line 3, [contract] field 'key': no column 'client' in the contract; the "
        "key names an identifier, integer or categorical column: customer_id, student"
    )


def test_a_key_of_the_wrong_type_or_not_a_name_is_refused() -> None:
    with pytest.raises(SchemaError) as info:
        Schema.loads(TEXT.replace('key = "customer_id"', 'key = "balance"'))
    assert str(info.value) == (
        "schema.toml line 3, [contract] field 'key': column 'balance' is a number column; "
        "the key names an identifier, integer or categorical column"
    )
    with pytest.raises(SchemaError) as info:
        Schema.loads(TEXT.replace('key = "customer_id"', "key = 7"))
    assert str(info.value) == (
        "schema.toml line 3, [contract] field 'key': expected the name of a column (a "
        "string), got 7"
    )


def test_a_key_given_in_python_is_checked_too() -> None:
    columns = [Column("n", "integer"), Column("x", "number")]
    assert Schema(columns, key="n").key == "n"
    assert Schema(columns, meta={"key": "n"}).key == "n"
    assert "key" not in Schema(columns, key="n").meta
    with pytest.raises(SchemaError) as info:
        Schema([Column("x", "number")], key="id")
    assert str(info.value) == (
        "the contract, [contract] field 'key': no column 'id' in the contract; the key names "
        "an identifier, integer or categorical column (add one)"
    )


def test_sensitive_must_be_true_or_false() -> None:
    with pytest.raises(SchemaError) as info:
        Schema.loads(TEXT.replace("sensitive = true", 'sensitive = "yes"'))
    assert str(info.value) == (
        "schema.toml line 14, column 'income', field 'sensitive': expected true or false, got 'yes'"
    )


def test_a_diff_shows_a_changed_key_and_sensitive_flag() -> None:
    before = Schema.loads(TEXT)
    after = Schema.loads(TEXT.replace("sensitive = true\n", "").replace("customer_id", "cid"))
    assert before.diff(after) == [
        f"fingerprint {before.fingerprint} -> {after.fingerprint}",
        "~ key 'customer_id' -> 'cid'",
        "- column 'customer_id' (identifier)",
        "~ column 'income': sensitive True -> False",
        "+ column 'cid' (identifier)",
    ]
    only_flags = Schema.loads(TEXT.replace("sensitive = true\n", "").replace("key =", "# key ="))
    assert before.diff(only_flags) == [
        f"fingerprint {before.fingerprint} (the rules are the same)",
        "~ key 'customer_id' -> none",
        "~ column 'income': sensitive True -> False",
    ]
    assert before.diff(Schema.loads(TEXT)) == [f"no change (fingerprint {before.fingerprint})"]
