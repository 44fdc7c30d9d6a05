"""Backup and restore of an all-in-one site holding 100 MB of PostgreSQL data (Debian 12,
aiws on the host): `aiws backup` against `pg_dump` of the same database alone (time and
size), and `aiws restore` on a fresh host against the first install of the same bundle.

Run with `make bench`; results go to ~/.cache/aiws/bench.jsonl. AIWS_BENCH_BUNDLE=FILE uses
a full bundle built beforehand.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from aiws.model.catalog import load_catalog
from aiws.sandbox.state import SandboxState
from tests.benchmarks.conftest import SELECTION, timed
from tests.benchmarks.recording import record
from tests.helpers.fixtures import MakeSandbox
from tests.helpers.hosts import bootstrap, copy_in, inside

pytestmark = pytest.mark.benchmark
CATALOG = load_catalog()
SOCKET = CATALOG.component("postgresql").layout["socket"]
PASSPHRASE = "/root/backup-passphrase"
ARCHIVE = "/root/site.aiws-backup"
# 100 000 rows of 1 KiB of random bytes (nothing for gzip or PostgreSQL to compress).
LOAD = (
    "CREATE TABLE bench_payload (id int PRIMARY KEY, data bytea); "
    "INSERT INTO bench_payload SELECT n, decode(string_agg(md5(random()::text), ''), 'hex') "
    "FROM generate_series(1, 100000) n, generate_series(1, 64) k GROUP BY n;"
)


def _psql(sandbox: SandboxState, sql: str) -> str:
    return inside(sandbox, "psql", "-X", "-Atq", "-h", SOCKET, "-U", "postgres", "-d", "vault",
                  "-c", sql, timeout=600)  # fmt: skip


def test_backup_and_restore_of_an_all_in_one_site(
    make_sandbox: MakeSandbox, full_bundle: Path
) -> None:
    a = make_sandbox()
    bundle = bootstrap(a, full_bundle)
    first_s, _ = timed(a, "install", *SELECTION, "--bundle", bundle, "--json")
    _psql(a, LOAD)
    data_mb = int(_psql(a, "SELECT pg_total_relation_size('bench_payload')")) / 1e6
    bin_dir = CATALOG.for_platform("debian-12").components["postgresql"]
    pg_dump = f"/usr/lib/postgresql/{bin_dir.version}/bin/pg_dump"
    started = time.monotonic()
    inside(a, pg_dump, "--format=custom", "-h", SOCKET, "-U", "postgres", "-f", "/root/alone.dump",
           "vault", timeout=600)  # fmt: skip
    pg_dump_s = time.monotonic() - started
    pg_dump_mb = int(inside(a, "stat", "-c", "%s", "/root/alone.dump")) / 1e6
    inside(a, "sh", "-c", f"umask 077 && echo 'a long benchmark passphrase' > {PASSPHRASE}")
    backup_s, out = timed(a, "backup", "--out", ARCHIVE, "--passphrase-file", PASSPHRASE, "--json")
    archive_mb = json.loads(out)["size"] / 1e6

    b = make_sandbox()
    bundle_b = bootstrap(b, full_bundle)
    for path in (ARCHIVE, PASSPHRASE):
        copy_in(b, a.merged / path.lstrip("/"), path)
    inside(b, "chmod", "600", PASSPHRASE)
    check_s, _ = timed(b, "restore", ARCHIVE, "--check", "--passphrase-file", PASSPHRASE)
    restore_s, out = timed(b, "restore", ARCHIVE, "--bundle", bundle_b, "--passphrase-file",
                           PASSPHRASE, "--json")  # fmt: skip
    assert json.loads(out)["ok"]
    assert _psql(b, "SELECT count(*) FROM bench_payload") == "100000"
    record(
        "backup.all_in_one.100mb",
        data_mb=round(data_mb, 1),
        pg_dump_s=round(pg_dump_s, 1),
        pg_dump_mb=round(pg_dump_mb, 1),
        backup_s=round(backup_s, 1),
        archive_mb=round(archive_mb, 1),
        restore_check_s=round(check_s, 1),
        restore_s=round(restore_s, 1),
        first_install_s=round(first_s, 1),
    )
