"""The one artifact format: round trips, every way an artifact can be bad, atomic saves.

The goldens under tests/golden/ are loaded here forever: recommender bundles of format 1
(written before suture.bundle) and 2, profiles of format 1 and 2, a contract of format 1.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import pytest

import suture
from suture.bundle import (
    MANIFEST,
    MODEL,
    PROFILE,
    RECOMMENDER,
    Bundle,
    Kind,
    LazyParts,
    created_now,
)
from suture.errors import ConfigError, CorruptStateError, OutputError, SourceError
from suture.recommend import Recommender
from suture.schema import Schema
from suture.testing import assert_profiles_agree
from tests.make_golden import GOLDEN, GOLDEN_RECOMMENDER
from tests.recommend._recdata import assert_states_equal

PARTS = {"model.json": b'{"w": [1, 2]}', "features.bin": bytes(range(256)) * 4, "e": b""}
META = {"target": "churn", "rows": 1000, "ratio": 0.25, "levels": ["a", "b"]}
WHEN = "2026-01-02T03:04:05+00:00"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _flip(file: Path, at: int) -> tuple[bytes, bytes]:
    before = file.read_bytes()
    data = bytearray(before)
    data[at] ^= 0x01
    file.write_bytes(bytes(data))
    return before, bytes(data)


def _refusal(path: Path, kind: Kind, max_version: int) -> str:
    """The message with which reading ``path`` is refused (as damage)."""
    with pytest.raises(CorruptStateError) as info:
        Bundle.read(path, kind, max_version)
    return str(info.value)


@pytest.fixture()
def bundle(tmp_path: Path) -> Path:
    return Bundle.write(tmp_path / "model", MODEL, 1, PARTS, META, created=WHEN)


# -- round trips -----------------------------------------------------------------------
def test_folder_round_trip_keeps_parts_metadata_and_manifest(bundle: Path) -> None:
    read = Bundle.read(bundle, MODEL, max_version=1)
    assert dict(read.parts) == PARTS
    assert list(read.parts) == sorted(PARTS)
    assert read.metadata == META
    assert (read.version, read.created, read.legacy) == (1, WHEN, False)
    manifest = json.loads((bundle / MANIFEST).read_text())
    assert manifest == dict(read.manifest)
    assert {k: manifest[k] for k in ("format", "format_version", "suture_version")} == {
        "format": "suture.model",
        "format_version": 1,
        "suture_version": suture.__version__,
    }
    assert manifest["parts"] == {
        name: {"size": len(data), "sha256": _sha(data)} for name, data in sorted(PARTS.items())
    }
    assert sorted(p.name for p in bundle.iterdir()) == sorted([*PARTS, MANIFEST])


def test_single_file_round_trip(tmp_path: Path) -> None:
    path = Bundle.write(tmp_path / "a.profile", PROFILE, 2, PARTS, META, created=WHEN)
    assert path.read_bytes()[:8] == b"SUTUREPF"
    read = Bundle.read(path, PROFILE, max_version=2)
    assert (dict(read.parts), read.metadata, read.created) == (PARTS, META, WHEN)
    assert Bundle.decode(path.read_bytes(), PROFILE, 2, name="x").parts == read.parts


def test_a_saved_profile_round_trips_and_is_a_bundle_file(tmp_path: Path) -> None:
    golden = suture.Profile.load(GOLDEN / "mixed_v1.profile")
    path = golden.save(tmp_path / "p.profile")
    loaded = suture.Profile.load(path)
    assert_profiles_agree(golden, loaded, quantiles_exact=True)
    assert loaded.metadata == golden.metadata
    read = Bundle.read(path, PROFILE, max_version=2)
    assert (read.version, list(read.parts)) == (2, ["schema.arrow", "state.bin"])
    assert read.created == golden.metadata["created"]
    assert loaded.to_bytes() == path.read_bytes()


def test_a_saved_contract_loads_the_same(tmp_path: Path) -> None:
    golden = Schema.load(GOLDEN / "contract_v1.toml")
    again = Schema.load(golden.save(tmp_path / "schema.toml"))
    assert again == golden


def test_a_model_bundle_holds_a_contract_a_profile_and_a_model_card(tmp_path: Path) -> None:
    profile = suture.Profile.load(GOLDEN / "mixed_v1.profile")
    contract = Schema.load(GOLDEN / "contract_v1.toml")
    parts = {
        "contract.toml": contract.dumps().encode(),
        "training.profile": profile.to_bytes(),
        "features.json": b"[]",
        "model.json": b'{"kind": "baseline"}',
        "metrics.json": b'{"auc": 0.5}',
        "lineage.json": b'{"source": "golden_table"}',
        "model_card.html": b"<!doctype html><title>card</title>",
    }
    path = Bundle.write(tmp_path / "model", MODEL, 1, parts, {"target": "flag"})
    read = Bundle.read(path, MODEL, max_version=1)
    read.expect(parts)
    assert Schema.loads(read.part("contract.toml").decode()) == contract
    again = suture.Profile.from_bytes(read.part("training.profile"), name=f"{path}/profile")
    assert_profiles_agree(again, profile, quantiles_exact=True)


def test_saving_a_contract_or_profile_where_it_cannot_go_changes_nothing(tmp_path: Path) -> None:
    contract = Schema.load(GOLDEN / "contract_v1.toml")
    profile = suture.Profile.load(GOLDEN / "mixed_v2.profile")
    (tmp_path / "folder").mkdir()
    with pytest.raises(OutputError, match="is a folder; give a file name for the output"):
        contract.save(tmp_path / "folder")
    with pytest.raises(OutputError, match="does not exist; create it first"):
        profile.save(tmp_path / "missing" / "p.profile")
    assert [p.name for p in tmp_path.iterdir()] == ["folder"]
    assert list((tmp_path / "folder").iterdir()) == []


def test_a_profile_file_without_the_parts_of_a_profile_is_refused() -> None:
    image = Bundle.encode(PROFILE, 2, {"schema.arrow": b"x", "state.bin": b"y"}, {})
    with pytest.raises(CorruptStateError) as info:
        suture.Profile.from_bytes(image, name="x.profile")
    assert str(info.value) == (
        "x.profile: not a readable profile of format 2 (KeyError: 'options'); re-create it "
        "with suture profile"
    )
    image = Bundle.encode(PROFILE, 2, {"state.bin": b"y"}, {})
    with pytest.raises(CorruptStateError, match=r"x.profile\[schema.arrow\]: missing from"):
        suture.Profile.from_bytes(image, name="x.profile")


# -- goldens, loaded forever -------------------------------------------------------------
def _check_golden_recommender(model: Recommender) -> None:
    assert {k: model.get_params()[k] for k in GOLDEN_RECOMMENDER} == GOLDEN_RECOMMENDER
    assert (model.state_.num_items, len(model.state_.user_keys)) == (12, 30)
    assert [(r.item, round(r.score, 12)) for r in model.recommend("u00", k=3)] == [
        (111, 0.633842197247),
        (100, 0.624570146203),
        (106, 0.231771141291),
    ]
    assert [(x.item, x.jaccard.value) for x in model.recommend("u00", k=1)[0].reasons] == [
        (109, 0.625),
        (102, 0.125),
        (103, 0.0625),
    ]
    assert [r.item for r in model.similar(100, k=3)] == [101, 102, 105]
    assert model.jaccard(100, 101) == 0.375
    assert [(r.item, r.because) for r in model.recommend("nobody", k=2)] == [
        (102, "popular"),
        (109, "popular"),
    ]


@pytest.mark.parametrize("name", ["recommend_v1", "recommend_v2"])
def test_golden_recommender_bundles_load(name: str) -> None:
    _check_golden_recommender(Recommender.load(GOLDEN / name))


def test_recommender_format_2_has_the_parts_of_format_1_and_refits_equal(tmp_path: Path) -> None:
    old = Bundle.read(GOLDEN / "recommend_v1", RECOMMENDER, max_version=2)
    new = Bundle.read(GOLDEN / "recommend_v2", RECOMMENDER, max_version=2)
    assert (old.legacy, new.legacy) == (True, False)
    assert new.parts == old.parts
    assert new.metadata == old.metadata
    model = Recommender.load(GOLDEN / "recommend_v1")
    saved = Bundle.read(model.save(tmp_path / "recs"), RECOMMENDER, max_version=2)
    assert saved.parts == new.parts
    from suture.recommend import fit
    from tests.make_golden import golden_interactions

    refit = fit(golden_interactions(), user="user", item="item", **GOLDEN_RECOMMENDER)
    assert_states_equal(refit.state_, model.state_)


def test_golden_profile_of_format_2_loads_as_the_format_1_one() -> None:
    old = suture.Profile.load(GOLDEN / "mixed_v1.profile")
    new = suture.Profile.load(GOLDEN / "mixed_v2.profile")
    assert_profiles_agree(old, new, quantiles_exact=True)
    assert new.metadata == old.metadata
    assert new.row_count == 1000 and new["count"].mean == 499.5


def test_golden_contract_of_format_1_loads() -> None:
    contract = Schema.load(GOLDEN / "contract_v1.toml")
    assert [c.name for c in contract] == ["amount", "count", "kind", "flag", "when", "tags"]
    assert (contract["amount"].type, contract["amount"].min, contract["amount"].max) == (
        "number",
        -30,
        100,
    )
    assert contract["count"].type == "identifier"
    assert contract.meta["source"] == "golden_table"


# -- damage: each refused with the exact message -------------------------------------------
def test_a_flipped_byte_in_a_part_is_refused(bundle: Path) -> None:
    before, after = _flip(bundle / "features.bin", 100)
    assert _refusal(bundle, MODEL, 1) == (
        f"{bundle}/features.bin: SHA-256 mismatch (expected {_sha(before)[:8]}..., got "
        f"{_sha(after)[:8]}...): the model bundle was altered or damaged; re-create it with "
        "suture train"
    )


def test_a_flipped_byte_in_a_single_file_is_refused(tmp_path: Path) -> None:
    path = Bundle.write(tmp_path / "a.profile", PROFILE, 2, PARTS, META)
    before, after = _flip(path, len(path.read_bytes()) - 10)
    assert _refusal(path, PROFILE, 2) == (
        f"{path}: SHA-256 mismatch (expected {_sha(before[50:])[:8]}..., got "
        f"{_sha(after[50:])[:8]}...): the profile was altered or damaged; re-create it with "
        "suture profile"
    )


def test_an_altered_manifest_is_refused(bundle: Path) -> None:
    manifest = json.loads((bundle / MANIFEST).read_text())
    manifest["metadata"]["rows"] = 1001
    (bundle / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(CorruptStateError, match=r"manifest.json: SHA-256 mismatch of the manifest"):
        Bundle.read(bundle, MODEL, 1)
    (bundle / MANIFEST).write_text("{not json")
    with pytest.raises(CorruptStateError, match=r"manifest.json: not valid JSON"):
        Bundle.read(bundle, MODEL, 1)


def test_the_creation_time_may_change_without_a_refusal(bundle: Path) -> None:
    manifest = json.loads((bundle / MANIFEST).read_text())
    manifest["created"] = "2030-01-01T00:00:00+00:00"
    (bundle / MANIFEST).write_text(json.dumps(manifest))
    assert Bundle.read(bundle, MODEL, 1).created == "2030-01-01T00:00:00+00:00"


def test_a_truncated_single_file_is_refused(tmp_path: Path) -> None:
    path = Bundle.write(tmp_path / "a.profile", PROFILE, 2, PARTS, META)
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    assert _refusal(path, PROFILE, 2) == (
        f"{path}: truncated ({len(data) - 100:,} bytes, expected {len(data):,}): the file was "
        "cut short, perhaps by an interrupted copy; re-create it with suture profile"
    )
    path.write_bytes(data[:20])
    with pytest.raises(CorruptStateError, match=r"truncated \(20 bytes, expected 42\)"):
        Bundle.read(path, PROFILE, 2)
    path.write_bytes(data + b"\0")
    with pytest.raises(CorruptStateError, match="1 bytes after the end of the profile"):
        Bundle.read(path, PROFILE, 2)


def test_a_truncated_part_is_refused(bundle: Path) -> None:
    part = bundle / "features.bin"
    part.write_bytes(part.read_bytes()[:10])
    assert _refusal(bundle, MODEL, 1) == (
        f"{part}: 10 bytes, the manifest lists 1,024: the model bundle was truncated or "
        "altered; re-create it with suture train"
    )


def test_a_missing_part_is_named(bundle: Path) -> None:
    (bundle / "model.json").unlink()
    assert _refusal(bundle, MODEL, 1) == (
        f"{bundle}/model.json: missing (listed in manifest.json): the model bundle is "
        "incomplete; re-create it with suture train"
    )


def test_an_extra_part_is_named(bundle: Path) -> None:
    (bundle / "notes.txt").write_text("mine")
    assert _refusal(bundle, MODEL, 1) == (
        f"{bundle}/notes.txt: not listed in manifest.json: something was added to the model "
        "bundle; remove it or re-create the model bundle with suture train"
    )


def test_expect_names_missing_and_extra_parts(bundle: Path) -> None:
    read = Bundle.read(bundle, MODEL, 1)
    read.expect(["model.json", "features.bin"], optional=["e"])
    with pytest.raises(CorruptStateError) as info:
        read.expect(["model.json", "features.bin", "metrics.json"], optional=["e"])
    assert str(info.value) == (
        f"{bundle}/metrics.json: missing from the model bundle (format 1); re-create it with "
        "suture train"
    )
    with pytest.raises(CorruptStateError) as info:
        read.expect(["model.json"])
    assert str(info.value) == (
        f"{bundle}/e, {bundle}/features.bin: not a part of a model bundle of format 1; the "
        "model bundle was altered; re-create it with suture train"
    )
    with pytest.raises(CorruptStateError, match=r"lineage.json: missing from the model bundle"):
        read.part("lineage.json")


def test_a_newer_format_is_refused(bundle: Path, tmp_path: Path) -> None:
    newer = Bundle.write(tmp_path / "m3", MODEL, 3, PARTS)
    assert _refusal(newer, MODEL, 2) == (
        f"{tmp_path / 'm3'}: model bundle format 3, newer than this suture reads (2); "
        "upgrade suture"
    )
    path = Bundle.write(tmp_path / "a.profile", PROFILE, 3, PARTS)
    assert _refusal(path, PROFILE, 2) == (
        f"{path}: profile format 3, newer than this suture reads (2); upgrade suture"
    )


def test_a_newer_manifest_layout_is_refused(bundle: Path) -> None:
    manifest = json.loads((bundle / MANIFEST).read_text())
    manifest["manifest_version"] = 2
    (bundle / MANIFEST).write_text(json.dumps(manifest))
    assert _refusal(bundle, MODEL, 1) == (
        f"{bundle}/manifest.json: manifest layout 2, newer than this suture reads (1); "
        "upgrade suture"
    )


def test_another_kind_is_refused_by_name(tmp_path: Path) -> None:
    recs = Bundle.write(tmp_path / "recs", RECOMMENDER, 2, PARTS)
    with pytest.raises(SourceError) as info:
        Bundle.read(recs, MODEL, 1)
    assert str(info.value) == f"{recs} is a recommender bundle, not a model bundle; check the path"
    profile = Bundle.write(tmp_path / "a.profile", PROFILE, 2, PARTS)
    with pytest.raises(SourceError, match=r"a\.profile is a profile, not a model bundle folder"):
        Bundle.read(profile, MODEL, 1)
    with pytest.raises(SourceError, match=r"recs is a recommender bundle, not a profile"):
        suture.Profile.load(recs)
    with pytest.raises(SourceError, match=r"not a recommender bundle \(no manifest.json\)"):
        Recommender.load(tmp_path)
    with pytest.raises(CorruptStateError, match=r"x\.profile is not a suture profile"):
        Bundle.decode(b"PAR1....", PROFILE, 2, name="x.profile")


def test_a_damaged_part_of_a_format_1_bundle_is_refused(tmp_path: Path) -> None:
    recs = tmp_path / "recs"
    recs.mkdir()
    for name, data in _snapshot(GOLDEN / "recommend_v1").items():
        (recs / name).write_bytes(data)
    before, after = _flip(recs / "signatures.npy", 200)
    with pytest.raises(CorruptStateError) as info:
        Recommender.load(recs)
    assert str(info.value) == (
        f"{recs}/signatures.npy: SHA-256 mismatch (expected {_sha(before)[:8]}..., got "
        f"{_sha(after)[:8]}...): the recommender bundle was altered or damaged; re-create it "
        "with suture recommend fit"
    )


# -- writing ---------------------------------------------------------------------------
class _Interrupted(Mapping[str, bytes]):
    """Parts computed on demand; producing the third raises (a crash half-way)."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.names = sorted(PARTS)

    def __getitem__(self, name: str) -> bytes:
        if name == self.names[2]:
            raise self.error
        return PARTS[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


def test_lazy_parts_are_made_once_each_in_name_order(tmp_path: Path) -> None:
    made: list[str] = []

    def maker(name: str) -> Callable[[], bytes]:
        return lambda: made.append(name) or PARTS[name]

    lazy = LazyParts({name: maker(name) for name in reversed(list(PARTS))})
    path = Bundle.write(tmp_path / "m", MODEL, 1, lazy, META, created=WHEN)
    assert made == sorted(PARTS)
    assert Bundle.read(path, MODEL, 1).parts == PARTS


@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_an_interrupted_save_leaves_the_old_bundle_and_no_partial_one(
    bundle: Path, error: BaseException
) -> None:
    before = _snapshot(bundle)
    with pytest.raises(type(error)):
        Bundle.write(bundle, MODEL, 1, _Interrupted(error), {"new": True})
    assert _snapshot(bundle) == before
    assert sorted(p.name for p in bundle.parent.iterdir()) == ["model"]
    with pytest.raises(type(error)):
        Bundle.write(bundle.parent / "fresh", MODEL, 1, _Interrupted(error))
    assert sorted(p.name for p in bundle.parent.iterdir()) == ["model"]


def test_an_interrupted_single_file_save_leaves_the_old_file(tmp_path: Path) -> None:
    path = Bundle.write(tmp_path / "a.profile", PROFILE, 2, PARTS)
    before = path.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        Bundle.write(path, PROFILE, 2, _Interrupted(KeyboardInterrupt()))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.profile"]


def test_saving_replaces_a_bundle_of_its_kind_and_refuses_anything_else(
    bundle: Path, tmp_path: Path
) -> None:
    Bundle.write(bundle, MODEL, 1, {"only.bin": b"1"})
    assert sorted(p.name for p in bundle.iterdir()) == [MANIFEST, "only.bin"]
    data = tmp_path / "data"
    data.mkdir()
    (data / "precious.csv").write_text("x\n1\n")
    with pytest.raises(SourceError) as info:
        Bundle.write(data, MODEL, 1, PARTS)
    assert str(info.value) == (
        f"{data}: the folder exists and is not a model bundle; choose an empty or new folder"
    )
    with pytest.raises(SourceError) as info:
        Bundle.write(bundle, RECOMMENDER, 2, PARTS)
    assert str(info.value) == (
        f"{bundle} is a model bundle, not a recommender bundle; choose another folder"
    )
    assert (data / "precious.csv").read_text() == "x\n1\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert Bundle.read(Bundle.write(empty, MODEL, 1, PARTS), MODEL, 1).parts == PARTS
    with pytest.raises(OutputError, match="does not exist; create it first"):
        Bundle.write(tmp_path / "no" / "model", MODEL, 1, PARTS)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_files_get_the_modes_of_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        folder = Bundle.write(tmp_path / "model", MODEL, 1, PARTS)
        single = Bundle.write(tmp_path / "a.profile", PROFILE, 2, PARTS)
        contract = Schema.load(GOLDEN / "contract_v1.toml").save(tmp_path / "schema.toml")
    finally:
        os.umask(old)
    assert folder.stat().st_mode & 0o777 == 0o777 & ~umask
    for file in [*folder.iterdir(), single, contract]:
        assert file.stat().st_mode & 0o777 == 0o666 & ~umask, file


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ({"../x": b""}, "part name '../x' is not allowed"),
        ({".hidden": b""}, "part name '.hidden' is not allowed"),
        ({MANIFEST: b""}, "part name 'manifest.json' is not allowed"),
        ({"a": "text"}, "part 'a' is a str, not bytes"),
    ],
)
def test_bad_parts_are_config_errors(
    tmp_path: Path, parts: Mapping[str, bytes], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Bundle.write(tmp_path / "m", MODEL, 1, parts)
    assert list(tmp_path.iterdir()) == []


def test_numpy_scalars_in_metadata_are_stored_as_numbers(tmp_path: Path) -> None:
    meta = {"k": np.int64(3), "threshold": np.float32(0.5), "flag": np.bool_(True)}
    path = Bundle.write(tmp_path / "m", MODEL, 1, PARTS, meta)
    assert Bundle.read(path, MODEL, 1).metadata == {"k": 3, "threshold": 0.5, "flag": True}


def test_bad_metadata_and_versions_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        Bundle.write(tmp_path / "m", MODEL, 1, PARTS, {"x": {1, 2}})
    assert str(info.value) == (
        "model bundle metadata must be plain JSON values (set {1, 2} is not a JSON value)"
    )
    with pytest.raises(ConfigError, match=r"ndarray array\(\[1\]\) is not a JSON value"):
        Bundle.write(tmp_path / "m", MODEL, 1, PARTS, {"x": np.array([1])})
    with pytest.raises(ConfigError, match="metadata must be plain JSON values"):
        Bundle.write(tmp_path / "m", MODEL, 1, PARTS, {"x": float("nan")})
    with pytest.raises(ConfigError, match="format version must be an integer of at least 2"):
        Bundle.write(tmp_path / "p", PROFILE, 1, PARTS)
    assert list(tmp_path.iterdir()) == []


# -- reproducibility -------------------------------------------------------------------
def test_the_same_parts_give_the_same_bytes_apart_from_the_creation_time(tmp_path: Path) -> None:
    shuffled = dict(reversed(list(PARTS.items())))
    a = Bundle.encode(PROFILE, 2, PARTS, META, created=WHEN)
    assert Bundle.encode(PROFILE, 2, shuffled, META, created=WHEN) == a
    later = Bundle.encode(PROFILE, 2, PARTS, META, created="2026-01-02T03:04:06+00:00")
    # Only the time differs, and the SHA-256 of the body in the header (bytes 10 to 41).
    assert a[:10] == later[:10]
    assert a.replace(b"03:04:05", b"03:04:06")[42:] == later[42:]
    one = _snapshot(Bundle.write(tmp_path / "a", MODEL, 1, PARTS, META, created=WHEN))
    two = _snapshot(Bundle.write(tmp_path / "b", MODEL, 1, shuffled, META, created=WHEN))
    assert one == two


def test_source_date_epoch_fixes_the_creation_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert created_now() == "2023-11-14T22:13:20+00:00"
    assert Bundle.encode(PROFILE, 2, PARTS) == Bundle.encode(PROFILE, 2, PARTS)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "soon")
    with pytest.raises(ConfigError, match="SOURCE_DATE_EPOCH='soon': expected whole seconds"):
        created_now()


def test_a_profile_saved_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    profile = suture.Profile.load(GOLDEN / "mixed_v1.profile")
    first = profile.save(tmp_path / "a.profile").read_bytes()
    assert profile.save(tmp_path / "b.profile").read_bytes() == first
    profile.metadata["created"] = "2030-01-01T00:00:00+00:00"
    other = Bundle.decode(profile.to_bytes(), PROFILE, 2, name="x")
    same = Bundle.decode(first, PROFILE, 2, name="x")
    assert other.parts == same.parts
    assert {**other.manifest, "created": None} == {**same.manifest, "created": None}


# -- every damage, exhaustively ----------------------------------------------------------
def test_every_flipped_byte_and_every_truncation_of_a_single_file_is_refused() -> None:
    image = Bundle.encode(PROFILE, 2, PARTS, META, created=WHEN)
    for at in range(len(image)):
        damaged = bytearray(image)
        damaged[at] ^= 0x01
        with pytest.raises(CorruptStateError):
            Bundle.decode(bytes(damaged), PROFILE, 2, name="x.profile")
    for size in range(len(image)):
        with pytest.raises(CorruptStateError):
            Bundle.decode(image[:size], PROFILE, 2, name="x.profile")


def test_every_flipped_byte_of_a_manifest_but_the_time_is_refused(bundle: Path) -> None:
    text = (bundle / MANIFEST).read_bytes()
    start = text.index(WHEN.encode())
    for at in range(len(text)):
        if start <= at < start + len(WHEN):
            continue
        damaged = bytearray(text)
        damaged[at] ^= 0x01
        (bundle / MANIFEST).write_bytes(bytes(damaged))
        with pytest.raises((CorruptStateError, SourceError)):
            Bundle.read(bundle, MODEL, 1)


def test_a_recommender_saved_twice_gives_the_same_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    model = Recommender.load(GOLDEN / "recommend_v2")
    one = _snapshot(model.save(tmp_path / "a"))
    assert _snapshot(model.save(tmp_path / "b")) == one
    assert json.loads(one[MANIFEST])["created"] == "2023-11-14T22:13:20+00:00"


def test_a_loaded_recommender_shares_its_verified_bytes_and_still_updates() -> None:
    import pyarrow as pa

    from suture.recommend import fit
    from tests.make_golden import golden_interactions

    loaded = Recommender.load(GOLDEN / "recommend_v2")
    assert not loaded.state_.signatures.flags.writeable  # a view of the part, not a copy
    new = pa.table({"user": ["u99", "u99"], "item": pa.array([100, 111], pa.int64())})
    updated = loaded.update(new)
    union = pa.concat_tables([golden_interactions(), new])
    refit = fit(union, user="user", item="item", **GOLDEN_RECOMMENDER)
    assert_states_equal(updated.state_, refit.state_)
    assert updated.recommend("u99", k=3) == refit.recommend("u99", k=3)


def test_a_recommender_part_that_is_not_a_plain_array_is_refused(tmp_path: Path) -> None:
    import io

    from numpy.lib import format as npy_format

    golden = Bundle.read(GOLDEN / "recommend_v2", RECOMMENDER, 2)
    sink = io.BytesIO()
    npy_format.write_array_header_1_0(
        sink, {"descr": "|O", "fortran_order": False, "shape": (12, 1)}
    )
    parts = {**golden.parts, "counts.npy": sink.getvalue() + bytes(96)}
    path = Bundle.write(tmp_path / "recs", RECOMMENDER, 2, parts, golden.metadata)
    with pytest.raises(CorruptStateError) as info:
        Recommender.load(path)
    assert str(info.value) == (
        f"{path}/counts.npy: not a NumPy array (object arrays are not allowed); re-create "
        "the bundle with suture recommend fit"
    )
    parts["counts.npy"] = golden.parts["counts.npy"] + b"\0"
    path = Bundle.write(tmp_path / "recs", RECOMMENDER, 2, parts, golden.metadata)
    with pytest.raises(CorruptStateError, match=r"counts.npy: not a NumPy array \(1 bytes after"):
        Recommender.load(path)
