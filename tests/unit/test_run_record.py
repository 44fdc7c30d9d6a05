"""One function makes a run's record (aiws.ansible.ledger.run_record), whichever way it
reaches the hosts' history: given to the install's last task before the run and completed
there with what the run did, or written once the run is over; both become the same record.
One function on the hosts appends it (add_run), the oldest dropped past the limit."""

from __future__ import annotations

from datetime import UTC, datetime

from aiws.ansible.driver import Counts, RunResult
from aiws.ansible.ledger import RunRecord, run_record
from aiws.module_utils.aiws_common import HISTORY_LIMIT, add_run
from aiws.timing import PhaseTime

STARTED = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
PHASES = [PhaseTime(name="preflight", seconds=1.5)]


def _result() -> RunResult:
    return RunResult(
        run_id="r1", playbook="install", rc=0, status="successful", started_at=STARTED,
        duration=42.0, counts={("h", "vault"): Counts(ok=3, changed=2)}, stats={},
        failures=[], phases=[], facts={}, results={}, paths=[], log_dir=None,
    )  # fmt: skip


def test_the_play_and_an_ad_hoc_write_record_the_same_run() -> None:
    asked = {"mode": "core", "components": ["vault"], "phases": PHASES,
             "config": {"models": []}, "request": {"mode": "core"}}  # fmt: skip
    given = run_record("install", "r1", STARTED, **asked).model_dump(mode="json")
    # What the play's last task adds (aiws_finish): the outcome it counted.
    completed = RunRecord.model_validate({**given, "ok": True, "changed": {"vault": 2},
                                          "seconds": 42.0})  # fmt: skip
    after = run_record("install", "r1", STARTED, outcome=_result(), **asked)
    assert completed == after
    assert (after.ok, after.changed, after.seconds) == (True, {"vault": 2}, 42.0)


def test_a_run_is_appended_and_the_history_bounded() -> None:
    ledger: dict[str, object] = {}
    for n in range(HISTORY_LIMIT + 3):
        add_run(ledger, {"id": str(n)})
    runs = ledger["runs"]
    assert isinstance(runs, list) and len(runs) == HISTORY_LIMIT
    assert runs[0] == {"id": "3"} and runs[-1] == {"id": str(HISTORY_LIMIT + 2)}
