"""`aiws sandbox`: fresh systemd hosts (systemd-nspawn containers) for tests and trials."""

from __future__ import annotations

import os
from typing import Any

import typer
from rich.table import Table

from aiws.cli.options import JsonOpt
from aiws.cli.output import Output
from aiws.errors import UsageError
from aiws.sandbox import host, state
from aiws.sandbox.state import Network, SandboxState

app = typer.Typer(
    help="Fresh systemd hosts on demand: boot, enter and destroy systemd-nspawn sandboxes.",
    no_args_is_help=True,
)

NAME_HELP = "Sandbox name: 1-12 lowercase letters, digits or inner dashes; also its hostname."


def describe(sandbox: SandboxState) -> dict[str, Any]:
    addresses = sandbox.addresses
    return {
        "name": sandbox.name,
        "distro": sandbox.distro,
        "network": sandbox.network,
        "running": host.is_running(sandbox),
        "leader_pid": sandbox.leader_pid,
        "nspawn_pid": sandbox.nspawn_pid,
        "address": sandbox.address,
        "host_address": addresses.host if addresses else None,
        "host_link": addresses.host_link if addresses else None,
        "inventory": str(sandbox.inventory),
        "state_dir": str(sandbox.dir),
        "created_at": sandbox.created_at.isoformat(),
    }


@app.command("create")
def create(
    name: str = typer.Argument(..., help=NAME_HELP),
    distro: str = typer.Option(
        "debian-12", "--distro", help="Distro of the host: debian-11, debian-12 or debian-13."
    ),
    network: str = typer.Option(
        "private",
        "--network",
        help="private: loopback only (default). veth: a host0 link with a static address, "
        "reachable from this machine.",
    ),
    json_mode: JsonOpt = False,
) -> None:
    """Boot a fresh sandbox and print the path of its Ansible inventory."""
    out = Output(json_mode=json_mode)
    sandbox = host.create(name, distro, _network(network), announce=out.info)
    if json_mode:
        out.data(describe(sandbox))
        return
    where = f" at {sandbox.address}" if sandbox.address else ""
    out.info(f"sandbox '{name}' is running{where}; leader pid {sandbox.leader_pid}")
    out.print(str(sandbox.inventory))


def _network(value: str) -> Network:
    if value == "private":
        return "private"
    if value == "veth":
        return "veth"
    raise UsageError(f"unknown network '{value}'", "use --network private or --network veth")


@app.command("list")
def list_(json_mode: JsonOpt = False) -> None:
    """List the sandboxes on this machine."""
    out = Output(json_mode=json_mode)
    sandboxes = [describe(s) for s in state.load_all()]
    if json_mode:
        out.data(sandboxes)
        return
    table = Table("name", "distro", "network", "address", "state", "leader", "inventory")
    for s in sandboxes:
        table.add_row(
            s["name"],
            s["distro"],
            s["network"],
            s["address"] or "-",
            "running" if s["running"] else "stopped",
            str(s["leader_pid"]),
            s["inventory"],
        )
    out.print(table)


@app.command("shell")
def shell(name: str = typer.Argument(..., help=NAME_HELP)) -> None:
    """Open a root login shell inside the sandbox."""
    _exec_in(name, ["/bin/bash", "-l"])


@app.command("exec")
def exec_(
    name: str = typer.Argument(..., help=NAME_HELP),
    command: list[str] = typer.Argument(..., help="The command to run inside; put it after --."),
) -> None:
    """Run a command inside the sandbox; exits with its exit code."""
    _exec_in(name, command)


def _exec_in(name: str, command: list[str]) -> None:
    host.require_host()
    args = host.in_container(state.load(name), command)
    os.execvp(args[0], args)


@app.command("destroy")
def destroy(
    name: str | None = typer.Argument(None, help=NAME_HELP),
    all_: bool = typer.Option(False, "--all", help="Destroy every sandbox on this machine."),
) -> None:
    """Power off a sandbox and remove all of it: processes, mounts, cgroups, links, state."""
    host.require_host()
    out = Output()
    if all_ == (name is not None):
        raise UsageError(
            "name a sandbox or pass --all (not both)", "e.g. aiws sandbox destroy box1"
        )
    if name is not None:
        host.destroy_named(name)
    for destroyed in [name] if name is not None else host.destroy_all():
        out.info(f"destroyed sandbox '{destroyed}'")
    if all_:
        for path in state.foreign():
            out.warn(f"left {path} alone: not made by `aiws sandbox create`")
