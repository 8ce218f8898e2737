"""The live drift window's archive tests of test_window.py, against a real PostgreSQL
server (the server and a database per test from test_postgres.py's fixtures)."""

from __future__ import annotations

from tests.serve.test_postgres import archive_url, postgres_server
from tests.serve.test_window import (
    archive,
    bundle,
    default_rows,
    inputs,
    test_a_window_of_records_takes_the_newest_buckets_until_it_holds_enough,
    test_buckets_another_model_left_open_are_closed_not_replayed_nor_counted,
    test_closing_and_reopening_gives_the_same_window,
    test_recovering_one_dead_worker_leaves_the_live_ones_alone,
    test_recovery_replays_exactly_the_records_a_killed_worker_had_not_folded,
    test_refused_records_make_the_out_of_range_rate_and_survive_a_restart,
    test_the_thread_folds_and_persists_without_being_asked,
    test_times_categories_and_integers_come_back_from_the_archive_in_their_types,
    test_window_fed_in_flushes_buckets_and_workers_equals_the_one_pass_profile,
)

__all__ = [
    "archive",
    "archive_url",
    "bundle",
    "default_rows",
    "inputs",
    "postgres_server",
    "test_a_window_of_records_takes_the_newest_buckets_until_it_holds_enough",
    "test_buckets_another_model_left_open_are_closed_not_replayed_nor_counted",
    "test_closing_and_reopening_gives_the_same_window",
    "test_recovering_one_dead_worker_leaves_the_live_ones_alone",
    "test_recovery_replays_exactly_the_records_a_killed_worker_had_not_folded",
    "test_refused_records_make_the_out_of_range_rate_and_survive_a_restart",
    "test_the_thread_folds_and_persists_without_being_asked",
    "test_times_categories_and_integers_come_back_from_the_archive_in_their_types",
    "test_window_fed_in_flushes_buckets_and_workers_equals_the_one_pass_profile",
]
