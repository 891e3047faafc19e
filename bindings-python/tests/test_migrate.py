"""slotshift.diff / slotshift.migrate from a standalone server to the 3-master cluster."""

from __future__ import annotations

import json
import threading

import pytest

import slotshift

N = 40


def plant(r: slotshift.Client) -> None:
    for i in range(N // 4):
        r.set(f"mig:s:{i}", b"v\x00\xff" + str(i).encode())
        r.hset(f"mig:h:{i}", mapping={"a": str(i), "b": "x"})
        r.rpush(f"mig:l:{i}", "1", "2", str(i))
        r.set(f"mig:t:{i}", "ttl", ex=3600)
    r.set("other:key", "not matched")


def test_diff_migrate_diff(r: slotshift.Client, rc: slotshift.Client) -> None:
    plant(r)
    before = slotshift.diff(r, rc, match="mig:*")
    assert before.complete
    assert before.source_keys == N
    assert before.total_differences == N
    assert before.differences["missing"] == N
    assert before.differences["extra"] == 0
    doc = json.loads(before.to_json())
    assert doc["source_keys"] == N
    assert "missing" in before.to_text()

    dry = slotshift.migrate(r, rc, match="mig:*", dry_run=True)
    assert dry.dry_run and dry.copied == N
    assert rc.dbsize() == 0

    report = slotshift.migrate(r, rc, match="mig:*")
    assert report.complete and not report.dry_run
    assert report.keys_scanned == N and report.copied == N
    final = report.final_diff
    assert final is not None and final.total_differences == 0
    assert json.loads(report.to_json())["keys_scanned"] == N
    assert report.to_text()

    after = slotshift.diff(r, rc, match="mig:*")
    assert after.total_differences == 0 and after.source_keys == N
    # Identical key sets: the reverse pass asks the source about no key.
    assert after.destination_keys == N and after.reverse_exact_slots == 0
    assert rc.get("mig:s:3") == b"v\x00\xff3"
    assert rc.hgetall("mig:h:2") == {b"a": b"2", b"b": b"x"}
    assert rc.lrange("mig:l:1", 0, -1) == [b"1", b"2", b"1"]
    assert 3500 < rc.ttl("mig:t:0") <= 3600
    assert rc.get("other:key") is None

    again = slotshift.migrate(r, rc, match="mig:*")
    assert again.copied == 0 and again.equal == N

    # A key only the destination has: its slot alone is checked key by key.
    rc.set("mig:extra", "x")
    extra = slotshift.diff(r, rc, match="mig:*")
    assert extra.differences["extra"] == 1 and extra.reverse_exact_slots == 1
    rc.delete("mig:extra")


def test_same_store_is_a_migrate_error(r: slotshift.Client, standalone_url: str) -> None:
    assert slotshift.error_class("migrate") is slotshift.MigrateError
    with slotshift.Client.from_url(standalone_url) as same:
        with pytest.raises(slotshift.MigrateError, match="same store"):
            slotshift.diff(r, same)
        with pytest.raises(slotshift.MigrateError, match="same store"):
            slotshift.migrate(r, same)


def test_bad_options(r: slotshift.Client, rc: slotshift.Client) -> None:
    with pytest.raises(slotshift.MigrateError, match="mode"):
        slotshift.diff(r, rc, mode="deep")
    with pytest.raises(slotshift.MigrateError, match="rate"):
        slotshift.migrate(r, rc, rate=0)
    with pytest.raises(slotshift.MigrateError, match="slots"):
        slotshift.diff(r, rc, slots="9-2")
    with pytest.raises(OverflowError):
        slotshift.diff(r, rc, ttl_tolerance_ms=-1)
    with pytest.raises(TypeError, match="ttl_tolerance_ms"):
        slotshift.diff(r, rc, ttl_tolerance_ms=1.5)  # type: ignore[arg-type]
    # The old name in seconds is gone: one unit (milliseconds) in every language.
    with pytest.raises(TypeError, match="ttl_tolerance"):
        slotshift.diff(r, rc, ttl_tolerance=1.0)
    with pytest.raises(TypeError, match="source"):
        slotshift.migrate(r.store, rc)  # type: ignore[arg-type]
    assert issubclass(slotshift.MigrateError, slotshift.SlotshiftError)


def test_missing_only_keeps_what_the_destination_has(r: slotshift.Client, rc: slotshift.Client) -> None:
    """The backfill under dual-write: only what the destination lacks is written."""
    r.set("mo:kept", "older")
    r.set("mo:copied", "v")
    rc.set("mo:kept", "newer")
    report = slotshift.migrate(r, rc, match="mo:*", missing_only=True)
    assert report.complete
    assert report.copied == 1
    assert json.loads(report.to_json())["kept"] == 1
    assert rc.get("mo:kept") == b"newer"
    assert rc.get("mo:copied") == b"v"


def test_two_processes_share_one_migration(r: slotshift.Client, rc: slotshift.Client) -> None:
    """Two callers (threads here; processes or machines alike) share one migration through a
    coordinator: each returns the same merged report, and every key is copied once."""
    plant(r)
    reports: list[slotshift.MigrateReport] = []

    def one() -> None:
        reports.append(slotshift.migrate(r, rc, match="mig:*", coordinator=rc, job="py-share"))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(reports) == 2
    assert reports[0].to_json() == reports[1].to_json()
    assert reports[0].complete and reports[0].copied == N
    final = reports[0].final_diff
    assert final is not None and final.total_differences == 0
    # The job's record lives on its coordinator (here the destination) under its own tag.
    assert rc.exists("slotshift:job:{py-share}:done") == 1

    d = slotshift.diff(r, rc, match="mig:*", coordinator=rc, job="py-check")
    assert d.complete and d.total_differences == 0 and d.source_keys == N
    a = slotshift.analyze(r, match="mig:*", coordinator=rc, job="py-keys")
    assert a.complete and a.keys == N
    with pytest.raises(ValueError, match="coordinator= and job= go together"):
        slotshift.migrate(r, rc, coordinator=rc)
    with pytest.raises(slotshift.MigrateError, match="invalid job"):
        slotshift.migrate(r, rc, coordinator=rc, job="no way")
    with pytest.raises(TypeError, match="coordinator"):
        slotshift.migrate(r, rc, coordinator=rc.store, job="x")
