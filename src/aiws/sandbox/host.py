"""Create, boot, enter and destroy sandboxes: systemd-nspawn on a fresh overlay per host."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from aiws.errors import AiwsError, UsageError
from aiws.sandbox import cgroup, image, inventory, network, state, system
from aiws.sandbox.paths import state_root
from aiws.sandbox.state import Network, SandboxState

BOOT_TIMEOUT = 90.0
POWEROFF_TIMEOUT = 15.0
KILL_TIMEOUT = 10.0
PROBE_TIMEOUT = 10.0
MOUNT_TIMEOUT = 30.0
BOOTED_STATES = ("running", "degraded")
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def nsenter(leader: int) -> list[str]:
    """Enter every namespace of the container whose PID 1 is `leader`."""
    return ["nsenter", "-t", str(leader), "-m", "-u", "-i", "-n", "-p", "-C", "--"]


def in_container(sandbox: SandboxState, command: list[str]) -> list[str]:
    """`command` run inside the sandbox with a clean environment (not the host's)."""
    if sandbox.leader_pid is None:
        raise AiwsError(f"sandbox '{sandbox.name}' has no running PID 1", "destroy and recreate it")
    env = ["env", "-i", f"PATH={CONTAINER_PATH}", "HOME=/root", "LANG=C.UTF-8"]
    if "TERM" in os.environ:
        env.append(f"TERM={os.environ['TERM']}")
    return [*nsenter(sandbox.leader_pid), *env, *command]


def run_in(
    sandbox: SandboxState, command: list[str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `command` inside the sandbox, bounded; the caller checks the return code."""
    return system.run(in_container(sandbox, command), timeout=timeout, check=False)


def require_host() -> None:
    system.require_root()
    system.require_tools("systemd-nspawn", "nsenter", "ip", "tar")


def create(
    name: str,
    distro: str = "debian-12",
    net: Network = "private",
    announce: Callable[[str], None] = lambda _: None,
) -> SandboxState:
    """Boot a fresh sandbox and wait until its systemd reports running; undo all on failure."""
    require_host()
    state.validate_name(name)
    image.codename(distro)
    _refuse_if_taken(name)
    lower = image.ensure_image(distro, announce)
    sandbox = _claim(name, distro, net, lower)
    try:
        _boot(sandbox)
    except BaseException:
        # The boot error is the one to report; if cleaning up fails too, the state dir
        # stays and `aiws sandbox destroy NAME` retries it.
        with contextlib.suppress(AiwsError):
            destroy(sandbox)
        raise
    return sandbox


def _claim(name: str, distro: str, net: Network, lower: Path) -> SandboxState:
    """Reserve the name (and a subnet for veth) atomically against concurrent creates."""
    with _registry_lock():
        _refuse_if_taken(name)
        state.state_dir(name).mkdir(parents=True)
        state.mark(state.state_dir(name))
        sandbox = SandboxState(
            name=name,
            distro=distro,
            network=net,
            image=lower,
            created_at=datetime.now(UTC),
            cgroups=cgroup.dirs_for(name),
        )
        if net == "veth":
            taken = {s.addresses.index for s in state.load_all() if s.addresses}
            sandbox.addresses = network.allocate(name, taken | network.indexes_in_use_on_host())
        sandbox.save()
    return sandbox


def _refuse_if_taken(name: str) -> None:
    if state.state_dir(name).exists():
        raise UsageError(
            f"sandbox '{name}' already exists",
            f"destroy it (`aiws sandbox destroy {name}`) or choose another name",
        )


def _registry_lock() -> AbstractContextManager[None]:
    root = state_root()
    root.mkdir(parents=True, exist_ok=True)
    return system.locked(root / ".lock")


def _boot(sandbox: SandboxState) -> None:
    for path in (sandbox.upper, sandbox.work, sandbox.merged):
        path.mkdir()
    system.run(
        [
            "mount",
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"lowerdir={sandbox.image},upperdir={sandbox.upper},workdir={sandbox.work}",
            str(sandbox.merged),
        ],
        timeout=MOUNT_TIMEOUT,
    )
    _name_host(sandbox)
    cgroup.create(sandbox.cgroups)
    _start_and_wait(sandbox)


def _start_and_wait(sandbox: SandboxState) -> None:
    """Start nspawn on the prepared overlay, wait for a booted system, write the inventory."""
    process = _start_nspawn(sandbox)
    sandbox.nspawn_pid = process.pid
    sandbox.nspawn_started = system.start_time(process.pid)
    sandbox.save()
    sandbox.leader_pid = _wait_for_leader(sandbox)
    sandbox.save()
    _wait_until_booted(sandbox)
    if sandbox.addresses is not None:
        network.configure(sandbox.addresses, sandbox.leader_pid)
    inventory.write(sandbox)


def _name_host(sandbox: SandboxState) -> None:
    """The sandbox's name as its hostname (debootstrap copied the build machine's)."""
    etc = sandbox.merged / "etc"
    (etc / "hostname").write_text(f"{sandbox.name}\n")
    (etc / "hosts").write_text(
        f"127.0.0.1\tlocalhost\n127.0.1.1\t{sandbox.name}\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
    )


def _start_nspawn(sandbox: SandboxState) -> subprocess.Popen[bytes]:
    net_option = "--network-veth" if sandbox.network == "veth" else "--private-network"
    args = [
        "systemd-nspawn",
        "-D",
        str(sandbox.merged),
        "--boot",
        f"--machine={sandbox.name}",
        # The host has no systemd: no machined to register with, no unit to create.
        "--register=no",
        "--keep-unit",
        "--console=read-only",
        net_option,
    ]
    with sandbox.console_log.open("wb") as log:
        return subprocess.Popen(
            cgroup.enter_then_exec(sandbox.cgroups, args),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_for_leader(sandbox: SandboxState) -> int:
    """The container's PID 1: the child of the nspawn process, once nspawn has forked it."""
    assert sandbox.nspawn_pid is not None
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        _fail_if_exited(sandbox)
        kids = system.children(sandbox.nspawn_pid)
        if kids and _own_pid_namespace(kids[0]):
            return kids[0]
        time.sleep(0.05)
    raise _boot_timeout(sandbox, "no container PID 1 appeared")


def _own_pid_namespace(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/ns/pid").readlink() != Path("/proc/self/ns/pid").readlink()
    except FileNotFoundError:
        return False


def _wait_until_booted(sandbox: SandboxState) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    status = "unknown"
    while time.monotonic() < deadline:
        _fail_if_exited(sandbox)
        status = system_state(sandbox)
        if status in BOOTED_STATES:
            return
        time.sleep(0.1)
    raise _boot_timeout(sandbox, f"systemd still reports '{status}'")


def system_state(sandbox: SandboxState) -> str:
    """`systemctl is-system-running` inside, or 'unreachable' when it cannot be asked."""
    try:
        done = run_in(sandbox, ["systemctl", "is-system-running"], timeout=PROBE_TIMEOUT)
    except AiwsError:
        return "unreachable"
    return done.stdout.strip() or "unreachable"


def _fail_if_exited(sandbox: SandboxState) -> None:
    assert sandbox.nspawn_pid is not None
    if not system.is_alive(sandbox.nspawn_pid, sandbox.nspawn_started):
        raise AiwsError(
            f"systemd-nspawn for '{sandbox.name}' exited during boot:\n{_console_tail(sandbox)}",
            f"see {sandbox.console_log}",
        )


def _boot_timeout(sandbox: SandboxState, what: str) -> AiwsError:
    return AiwsError(
        f"sandbox '{sandbox.name}' did not boot within {BOOT_TIMEOUT:.0f} s ({what}):\n"
        + _console_tail(sandbox),
        "check the console log; the machine may be overloaded, retry with fewer sandboxes",
    )


def _console_tail(sandbox: SandboxState, lines: int = 10) -> str:
    if not sandbox.console_log.is_file():
        return "(no console output)"
    return "\n".join(sandbox.console_log.read_text(errors="replace").splitlines()[-lines:])


def is_running(sandbox: SandboxState) -> bool:
    return sandbox.nspawn_pid is not None and system.is_alive(
        sandbox.nspawn_pid, sandbox.nspawn_started
    )


def destroy(sandbox: SandboxState) -> None:
    """Power off, kill what is left, unmount and delete: afterwards nothing of it remains."""
    if is_running(sandbox):
        _power_off(sandbox)
    if is_running(sandbox) or cgroup.pids(sandbox.cgroups):
        _kill(sandbox)
    if sandbox.addresses is not None:
        network.remove_link(sandbox.addresses.host_link)
    if system.is_mounted(sandbox.merged):
        system.run(["umount", str(sandbox.merged)], timeout=MOUNT_TIMEOUT)
    cgroup.remove(sandbox.cgroups)
    state.remove_dir(sandbox.dir)


def destroy_named(name: str) -> None:
    destroy(state.load(name))


def destroy_all() -> list[str]:
    """Destroy every sandbox aiws made, including ones a crashed create or destroy left
    without a state file (their dirs carry aiws's marker). Other dirs under the state root
    (state.foreign) are not touched."""
    destroyed = []
    for name in state.names_on_disk():
        path = state.state_dir(name) / state.STATE_FILE
        if path.is_file():
            destroy(state.load(name))
        else:
            _destroy_orphan(name)
        destroyed.append(name)
    return destroyed


def _destroy_orphan(name: str) -> None:
    dirs = cgroup.dirs_for(name)
    cgroup.kill_all(dirs)
    merged = state.state_dir(name) / "merged"
    if system.is_mounted(merged):
        system.run(["umount", str(merged)], timeout=MOUNT_TIMEOUT)
    cgroup.remove(dirs)
    state.remove_dir(state.state_dir(name))


def _power_off(sandbox: SandboxState) -> None:
    try:
        run_in(sandbox, ["systemctl", "poweroff"], timeout=PROBE_TIMEOUT)
    except AiwsError:
        return  # not answering: _kill takes over
    _wait_for_exit(sandbox, POWEROFF_TIMEOUT)


def _kill(sandbox: SandboxState) -> None:
    if is_running(sandbox):
        assert sandbox.nspawn_pid is not None
        os.kill(sandbox.nspawn_pid, signal.SIGKILL)
    cgroup.kill_all(sandbox.cgroups)
    _wait_for_exit(sandbox, KILL_TIMEOUT)
    if is_running(sandbox) or cgroup.pids(sandbox.cgroups):
        raise AiwsError(
            f"processes of sandbox '{sandbox.name}' survived SIGKILL",
            f"inspect {sandbox.cgroups[0]}/cgroup.procs and rerun destroy",
        )


def _wait_for_exit(sandbox: SandboxState, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (is_running(sandbox) or cgroup.pids(sandbox.cgroups)):
        time.sleep(0.1)


def reboot(sandbox: SandboxState) -> None:
    """Reboot the sandbox as a host reboots: `systemctl reboot` inside, then boot again.

    systemd-nspawn does not restart a container that asks for a reboot: it exits (status
    133, which only a supervising unit would act on). So, once it has exited and the
    container's cgroup is empty, the same overlay (upper dir and all) is booted again; the
    new PID 1 is saved and the inventory rewritten (it names the leader's PID).
    """
    if not is_running(sandbox):
        raise AiwsError(f"sandbox '{sandbox.name}' is not running", "create it again")
    with contextlib.suppress(AiwsError):
        run_in(sandbox, ["systemctl", "reboot"], timeout=PROBE_TIMEOUT)
    _wait_for_exit(sandbox, BOOT_TIMEOUT)
    if is_running(sandbox) or cgroup.pids(sandbox.cgroups):
        raise AiwsError(
            f"sandbox '{sandbox.name}' did not shut down to reboot within {BOOT_TIMEOUT:.0f} s",
            f"see {sandbox.console_log}",
        )
    sandbox.leader_pid = None
    _start_and_wait(sandbox)


def leftovers(sandbox: SandboxState) -> list[str]:
    """What of `sandbox` still exists on the host; empty after a successful destroy."""
    found = []
    if system.is_mounted(sandbox.merged):
        found.append(f"mount {sandbox.merged}")
    found += [f"cgroup {path}" for path in sandbox.cgroups if path.exists()]
    found += [
        f"process {pid}"
        for pid in (sandbox.nspawn_pid, sandbox.leader_pid)
        if pid is not None and system.is_alive(pid)
    ]
    if sandbox.addresses is not None and network.link_exists(sandbox.addresses.host_link):
        found.append(f"link {sandbox.addresses.host_link}")
    if sandbox.dir.exists():
        found.append(f"state dir {sandbox.dir}")
    return found


@contextmanager
def sandboxed(
    name: str, distro: str = "debian-12", net: Network = "private"
) -> Iterator[SandboxState]:
    """A sandbox for the duration of a `with` block; destroyed however the block ends."""
    sandbox = create(name, distro, net)
    try:
        yield sandbox
    finally:
        if sandbox.dir.exists():
            destroy(sandbox)
