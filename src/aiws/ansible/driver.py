"""The Ansible driver: run one playbook with ansible-runner and account for every event.

Counts are kept per (host, role) from `runner_on_*` events only (a loop's per-item events
would count twice); they add up to what Ansible's own `playbook_on_stats` reports, which
the tests check. Each run keeps a JSON-lines event log and the plain Ansible output under
the controller's log directory.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

import ansible_runner

from aiws import resources
from aiws.ansible import runlock, tally
from aiws.ansible.tally import RunTally
from aiws.model.hosts import Hosts
from aiws.modules.aiws_host_facts import ANSIBLE_REMOTE_TMP
from aiws.timing import PhaseTime

DEFAULT_LOG_DIR = Path("/var/log/aiws")
PLAY_LEVEL = tally.PLAY_LEVEL
RUN_TIMEOUT_SECONDS = 3600


def log_root() -> Path:
    return Path(os.environ.get("AIWS_LOG_DIR", DEFAULT_LOG_DIR))


@dataclass
class Counts:
    ok: int = 0  # like Ansible's stats, ok includes changed
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    unreachable: int = 0
    ignored: int = 0

    def add(self, other: Counts) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class TaskFailure:
    host: str
    role: str
    task: str
    message: str

    @property
    def line(self) -> str:
        where = f"{self.role}: " if self.role != PLAY_LEVEL else ""
        return f"task '{where}{self.task}' failed on {self.host}: {self.message}"


@dataclass(frozen=True)
class PathReport:
    """A path a task removed (or found absent, or would remove in check mode)."""

    host: str
    path: str
    status: str


@dataclass
class RunResult:
    run_id: str
    playbook: str
    rc: int
    status: str
    started_at: datetime
    duration: float
    counts: dict[tuple[str, str], Counts]
    stats: dict[str, dict[str, int]]
    failures: list[TaskFailure]
    phases: list[PhaseTime]
    facts: dict[str, dict[str, Any]]
    results: dict[str, dict[str, Any]]  # each host's last task result (ad-hoc module calls)
    paths: list[PathReport]
    log_dir: Path | None

    @property
    def ok(self) -> bool:
        return self.rc == 0 and self.status == "successful" and not self.failures

    def totals(self, host: str | None = None) -> Counts:
        total = Counts()
        for (h, _), counts in self.counts.items():
            if host is None or h == host:
                total.add(counts)
        return total

    def changed_by_role(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for (_, role), counts in self.counts.items():
            out[role] = out.get(role, 0) + counts.changed
        return out

    @property
    def hosts(self) -> list[str]:
        return sorted({host for host, _ in self.counts})


class Progress(Protocol):
    """What the driver tells a progress display; see aiws.cli.progress."""

    def task_started(self, role: str, task: str) -> None: ...
    def retrying(self, task: str, retries_left: int, delay: float) -> None: ...


@dataclass
class _Accountant:
    """Turns ansible-runner events into counts, failures, phases and the event log."""

    log: Any  # text file or None
    progress: Progress | None
    counts: dict[tuple[str, str], Counts] = field(default_factory=dict)
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: list[TaskFailure] = field(default_factory=list)
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    paths: list[PathReport] = field(default_factory=list)
    tally: RunTally = field(default_factory=RunTally)  # changed and time per role

    def __call__(self, event: dict[str, Any]) -> bool:
        if self.log is not None:
            self.log.write(json.dumps(_loggable(event), default=str) + "\n")
        name = event.get("event", "")
        data = event.get("event_data", {})
        role, task = attribute(data)
        data = {**data, "task": task}
        if name in {"playbook_on_task_start", "playbook_on_handler_task_start"}:
            self.tally.task_started(str(data.get("task_uuid")), role)
            if self.progress is not None:
                self.progress.task_started(role, data.get("task", ""))
        elif name == "runner_retry" and self.progress is not None:
            res = data.get("res", {})
            self.progress.retrying(
                data.get("task", ""),
                int(res.get("retries", 0)) - int(res.get("attempts", 0)),
                float(res.get("delay", 0) or 0),
            )
        elif name.startswith("runner_on_") and name != "runner_on_start":
            self._count(name, data, role)
        elif name == "playbook_on_stats":
            keys = ("ok", "changed", "failures", "skipped", "dark", "ignored", "rescued")
            self.stats = {key: dict(data.get(key) or {}) for key in keys}
        return True  # False would hide the event from runner.events and runner.stats

    def _count(self, name: str, data: dict[str, Any], role: str) -> None:
        host = data.get("host", "?")
        res = data.get("res") or {}
        counts = self.counts.setdefault((host, role), Counts())
        self.tally.task_result(
            str(data.get("task_uuid")), role, name == "runner_on_ok" and bool(res.get("changed"))
        )
        self.results[host] = res
        if name == "runner_on_ok":
            counts.ok += 1
            counts.changed += bool(res.get("changed"))
            facts = res.get("ansible_facts") or {}
            aiws_facts = {k: v for k, v in facts.items() if k.startswith("aiws_")}
            if aiws_facts:
                self.facts.setdefault(host, {}).update(aiws_facts)
            self.paths += [
                PathReport(host, p["path"], p["status"]) for p in res.get("aiws_paths", [])
            ]
        elif name == "runner_on_failed":
            if data.get("ignore_errors"):
                counts.ok += 1
                counts.ignored += 1
                counts.changed += bool(res.get("changed"))
            else:
                counts.failed += 1
                self.failures.append(TaskFailure(host, role, data.get("task", "?"), _reason(res)))
        elif name == "runner_on_skipped":
            counts.skipped += 1
        elif name == "runner_on_unreachable":
            counts.unreachable += 1
            self.failures.append(
                TaskFailure(host, role, data.get("task", "?"), "host unreachable: " + _reason(res))
            )

    def phases(self) -> list[PhaseTime]:
        return self.tally.phases()


def attribute(data: dict[str, Any]) -> tuple[str, str]:
    """(role, task) an event counts for (see aiws.ansible.tally)."""
    return tally.attribute(data.get("role"), str(data.get("task", "")))


def _reason(res: dict[str, Any]) -> str:
    """The most telling line of a failed result: a command's stderr beats its generic msg."""
    keys: tuple[str, ...] = ("msg", "stderr", "module_stderr", "stdout")
    if res.get("msg") == "non-zero return code":
        keys = ("stderr", "stdout", "msg")
    for key in keys:
        text = str(res.get(key) or "").strip()
        if text:
            return text.splitlines()[-1][:300]
    return "no message"


def _loggable(event: dict[str, Any]) -> dict[str, Any]:
    """Drop the bulky copies of stdout that every event carries."""
    return {k: v for k, v in event.items() if k not in {"stdout", "start_line", "end_line"}}


def ansible_env(local_tmp: Path | None = None) -> dict[str, str]:
    """Environment every aiws Ansible run gets; one place, so runs are reproducible.

    Temp dirs: on the controller, `local_tmp` (inside the run's private directory under
    aiws's checked 0700 run dir); on targets, Ansible's default ~/.ansible/tmp in root's
    home, which the host facts check before the first change (guard rule host.ansible-tmp).
    """
    # ansible-playbook is installed beside the interpreter running aiws (venv or bundle).
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {
        "PATH": path,
        "ANSIBLE_LIBRARY": str(resources.modules_dir()),
        "ANSIBLE_MODULE_UTILS": str(resources.module_utils_dir()),
        "ANSIBLE_FILTER_PLUGINS": str(resources.plugins_dir("filter")),
        "ANSIBLE_CONNECTION_PLUGINS": str(resources.plugins_dir("connection")),
        "ANSIBLE_ACTION_PLUGINS": str(resources.plugins_dir("action")),
        "ANSIBLE_CALLBACK_PLUGINS": str(resources.plugins_dir("callback")),
        # aiws_run: what each component changed, for the run record the last task writes.
        "ANSIBLE_CALLBACKS_ENABLED": "aiws_run",
        # One process per module on the target (no temp files) where the connection can.
        "ANSIBLE_PIPELINING": "1",
        "ANSIBLE_ROLES_PATH": os.pathsep.join(str(p) for p in resources.roles_dirs()),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "ANSIBLE_COLLECTIONS_ON_ANSIBLE_VERSION_MISMATCH": "ignore",
        "ANSIBLE_INTERPRETER_PYTHON": "auto_silent",
        "ANSIBLE_REMOTE_TMP": ANSIBLE_REMOTE_TMP,
        # ansible-core imports cryptography's DSA support, which warns on every start from
        # cryptography 51 on: noise at the top of every run's log, and nothing to act on.
        "PYTHONWARNINGS": "ignore:DSA is deprecated",
    }
    if local_tmp is not None:
        env["ANSIBLE_LOCAL_TEMP"] = str(local_tmp)
    return env


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def run_playbook(
    playbook: Path,
    target: Hosts,
    extravars: dict[str, Any] | None = None,
    *,
    check: bool = False,
    progress: Progress | None = None,
    keep_logs: bool = True,
    limit: str | None = None,
    timeout: int = RUN_TIMEOUT_SECONDS,
    run_id: str | None = None,
) -> RunResult:
    """Run `playbook` against `target`; never raises for a failed task (see RunResult.ok)."""
    return _run(
        target,
        {"playbook": str(playbook), "extravars": extravars or {}, "limit": limit},
        name=playbook.stem,
        check=check,
        progress=progress,
        keep_logs=keep_logs,
        timeout=timeout,
        run_id=run_id,
    )


def run_module(
    module: str, args: dict[str, Any], target: Hosts, *, check: bool = False, timeout: int = 300
) -> RunResult:
    """Run one module ad hoc on every host of `target` (used for facts and probes)."""
    return _run(
        target,
        {"module": module, "module_args": json.dumps(args), "host_pattern": "all"},
        name=module,
        check=check,
        progress=None,
        keep_logs=False,
        timeout=timeout,
        run_id=None,
    )


def _run(
    target: Hosts,
    job: dict[str, Any],
    *,
    name: str,
    check: bool,
    progress: Progress | None,
    keep_logs: bool,
    timeout: int,
    run_id: str | None,
) -> RunResult:
    run_id = run_id or new_run_id()
    log_dir = _open_log_dir(run_id) if keep_logs else None
    started_at = datetime.now(UTC)
    clock = time.monotonic()
    # 0700 under aiws's checked run dir, never /tmp: extravars and staged files live here.
    private = Path(tempfile.mkdtemp(prefix="runner-", dir=runlock.private_run_dir()))
    events = _private_file(log_dir / "events.jsonl") if log_dir else None
    accountant = _Accountant(events, progress)
    try:
        runner = ansible_runner.run(
            private_data_dir=str(private),
            inventory=target.runner_inventory(),
            envvars=ansible_env(local_tmp=private / "local"),
            cmdline="--check --diff" if check else None,
            event_handler=accountant,
            quiet=True,
            timeout=timeout,
            ident=run_id,
            **{k: v for k, v in job.items() if v is not None},
        )
        if log_dir is not None:
            _save_plain_log(runner, log_dir / "ansible.log")
        rc, status = int(runner.rc if runner.rc is not None else 1), str(runner.status)
    finally:
        if events is not None:
            events.close()
        shutil.rmtree(private, ignore_errors=True)
    return RunResult(
        run_id=run_id,
        playbook=name,
        rc=rc,
        status=status,
        started_at=started_at,
        duration=round(time.monotonic() - clock, 3),
        counts=accountant.counts,
        stats=accountant.stats,
        failures=accountant.failures,
        phases=accountant.phases(),
        facts=accountant.facts,
        results=accountant.results,
        paths=accountant.paths,
        log_dir=log_dir,
    )


def _open_log_dir(run_id: str) -> Path:
    path = log_root() / "runs" / run_id
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def _private_file(path: Path) -> TextIO:
    """Open for writing, readable by root only: logs can name secret paths and hosts."""
    return os.fdopen(
        os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8"
    )


def _save_plain_log(runner: Any, path: Path) -> None:
    stdout = runner.stdout
    with _private_file(path) as handle:
        handle.write(stdout.read() if stdout is not None else "")
