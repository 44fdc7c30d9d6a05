"""The pure parts of the sandbox harness: names, addresses, inventories, state, image keys."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from aiws.errors import AiwsError, UsageError
from aiws.sandbox import cgroup, host, image, inventory, network, state, system
from aiws.sandbox.state import SandboxState


@pytest.fixture(autouse=True)
def state_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIWS_SANDBOX_STATE", str(tmp_path / "state"))
    return tmp_path / "state"


def sample(
    name: str = "box1", net: state.Network = "private", index: int | None = None
) -> SandboxState:
    return SandboxState(
        name=name,
        distro="debian-12",
        network=net,
        image=Path("/images/debian-12-x"),
        leader_pid=4242,
        nspawn_pid=4241,
        created_at=datetime(2026, 1, 2, tzinfo=UTC),
        addresses=network.addresses_for(index, name) if index is not None else None,
    )


@pytest.mark.parametrize("name", ["a", "box1", "ci-debian-12", "t-0a1b2c"])
def test_valid_names(name: str) -> None:
    assert state.validate_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "Box", "1box", "box-", "-box", "box_1", "a.b", "much-too-long", "a/b", "box 1"]
)
def test_invalid_names_are_refused_with_the_rule(name: str) -> None:
    with pytest.raises(UsageError, match="invalid sandbox name") as refusal:
        state.validate_name(name)
    assert "lowercase letters" in refusal.value.fix


def test_unique_names_are_valid_and_differ() -> None:
    names = {state.unique_name("ci") for _ in range(20)}
    assert len(names) == 20
    assert all(state.validate_name(n) for n in names)


def test_the_longest_name_still_fits_a_link_name() -> None:
    assert len(network.host_link("a" * state.MAX_NAME_LENGTH)) <= 15


def test_addresses_are_a_slash_30_per_index() -> None:
    addresses = network.addresses_for(7, "box1")
    assert (addresses.host, addresses.container, addresses.prefix) == (
        "10.231.7.1",
        "10.231.7.2",
        30,
    )
    assert addresses.host_link == "ve-box1"


def test_allocation_takes_the_lowest_free_subnet() -> None:
    assert network.allocate("b", set()).index == 0
    assert network.allocate("b", {0, 1, 3}).index == 2


def test_allocation_refuses_when_every_subnet_is_taken() -> None:
    with pytest.raises(AiwsError, match="subnets"):
        network.allocate("b", set(range(network.MAX_INDEX + 1)))


def test_inventory_connects_through_nsenter_to_the_leader() -> None:
    rendered = yaml.safe_load(inventory.render(sample()))
    host_vars = rendered["all"]["children"]["sandboxes"]["hosts"]["box1"]
    assert host_vars["ansible_connection"] == "aiws_nsenter"
    assert host_vars["ansible_nsenter_pid"] == 4242
    assert host_vars["ansible_python_interpreter"] == "/usr/bin/python3"
    assert "aiws_sandbox_address" not in host_vars


def test_veth_inventory_names_the_address() -> None:
    rendered = yaml.safe_load(inventory.render(sample(net="veth", index=3)))
    host_vars = rendered["all"]["children"]["sandboxes"]["hosts"]["box1"]
    assert host_vars["aiws_sandbox_address"] == "10.231.3.2"


def test_state_round_trips_through_its_file(state_root: Path) -> None:
    saved = sample(net="veth", index=5)
    saved.dir.mkdir(parents=True)
    saved.save()
    assert saved.dir == state_root / "box1"
    assert state.load("box1") == saved
    assert state.load_all() == [saved]
    assert state.names_on_disk() == ["box1"]


def test_loading_an_unknown_sandbox_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no sandbox named 'ghost'"):
        state.load("ghost")


def test_image_key_changes_with_distro_and_package_list() -> None:
    key = image.image_key("debian-12")
    assert key.startswith("debian-12-")
    assert image.image_key("debian-12", (*image.PACKAGES, "curl")) != key
    assert image.image_key("debian-12", tuple(reversed(image.PACKAGES))) == key


def test_distros_come_from_the_catalog() -> None:
    assert image.distros() == ["debian-11", "debian-12", "debian-13"]
    assert image.codename("debian-13") == "trixie"
    with pytest.raises(UsageError, match="unknown distro"):
        image.codename("debian-10")


def test_cgroup_hierarchies_follow_the_layout(tmp_path: Path) -> None:
    for hierarchy in ("systemd", "unified"):
        (tmp_path / hierarchy).mkdir()
        (tmp_path / hierarchy / "cgroup.procs").write_text("")
    assert cgroup.hierarchies(tmp_path) == [tmp_path / "systemd", tmp_path / "unified"]
    (tmp_path / "cgroup.controllers").write_text("")
    assert cgroup.hierarchies(tmp_path) == [tmp_path]


def test_no_cgroup_hierarchy_is_a_clear_failure(tmp_path: Path) -> None:
    with pytest.raises(AiwsError, match="no systemd cgroup hierarchy"):
        cgroup.hierarchies(tmp_path)


def test_not_root_is_refused_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(UsageError, match="need root") as refusal:
        host.require_host()
    assert refusal.value.exit_code == 2
    assert "sudo" in refusal.value.fix


@pytest.mark.parametrize(
    ("tool", "package"), [("systemd-nspawn", "systemd-container"), ("debootstrap", "debootstrap")]
)
def test_missing_tool_names_its_package(
    tool: str, package: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UsageError, match=f"{tool} is not installed") as refusal:
        system.require_tools(tool)
    assert f"apt-get install {package}" in refusal.value.fix


def our_sandbox(name: str, tmp_path: Path) -> SandboxState:
    """A stopped sandbox as `create` leaves it on disk: marker, state file, overlay dirs
    (its cgroup dirs under tmp_path: nothing of the host's is touched)."""
    sandbox = sample(name)
    sandbox.nspawn_pid = sandbox.leader_pid = None
    sandbox.cgroups = [tmp_path / "cgroup" / cgroup.PARENT / name]
    sandbox.dir.mkdir(parents=True)
    state.mark(sandbox.dir)
    sandbox.save()
    for part in (sandbox.upper / "etc", sandbox.work, sandbox.merged):
        part.mkdir(parents=True)
    (sandbox.upper / "etc" / "hostname").write_text(name)
    return sandbox


@pytest.fixture
def no_host_side_effects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """cgroups under tmp_path, nothing mounted: destroy runs for real on files only."""
    monkeypatch.setattr(cgroup, "hierarchies", lambda: [tmp_path / "cgroup"])
    monkeypatch.setattr(system, "is_mounted", lambda path: False)


def test_destroy_all_removes_only_what_aiws_made(
    state_root: Path, tmp_path: Path, no_host_side_effects: None
) -> None:
    our_sandbox("box1", tmp_path)
    orphan = state_root / "t-0a1b2c"  # a create that died before its state file
    (orphan / "upper").mkdir(parents=True)
    state.mark(orphan)
    foreign = {
        "backup": "a valid sandbox name, no marker",
        "Photos": "not a sandbox name",
        "data": "a state.json that is not a sandbox's",
    }
    for name, what in foreign.items():
        (state_root / name).mkdir()
        (state_root / name / "notes.txt").write_text(what)
    (state_root / "data" / "state.json").write_text('{"schema": 1, "components": {}}')
    elsewhere = tmp_path / "elsewhere"  # a marked dir, reached only through a symlink
    elsewhere.mkdir()
    state.mark(elsewhere)
    (state_root / "link").symlink_to(elsewhere)
    (state_root / "pet").mkdir()  # looks like a sandbox's state, but names another one
    (state_root / "pet" / "state.json").write_text(sample("box1").model_dump_json())

    assert host.destroy_all() == ["box1", "t-0a1b2c"]

    assert not (state_root / "box1").exists() and not orphan.exists()
    for name, what in foreign.items():
        assert (state_root / name / "notes.txt").read_text() == what
    assert (elsewhere / state.MARKER).is_file() and (state_root / "link").is_symlink()
    assert (state_root / "pet" / "state.json").is_file()
    assert state.foreign() == [state_root / n for n in ("Photos", "backup", "data", "link", "pet")]
    assert state.load_all() == []  # `sandbox list` is not fooled by a foreign state.json


def test_a_sandbox_made_before_the_marker_is_still_destroyed(
    state_root: Path, tmp_path: Path, no_host_side_effects: None
) -> None:
    old = our_sandbox("old1", tmp_path)
    (old.dir / state.MARKER).unlink()
    assert state.names_on_disk() == ["old1"]  # its own state file names it
    assert host.destroy_all() == ["old1"] and not old.dir.exists()


def test_a_destroy_cut_short_leaves_a_dir_destroy_all_still_knows(
    state_root: Path, tmp_path: Path, no_host_side_effects: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = our_sandbox("box2", tmp_path)
    real_rmtree = shutil.rmtree

    def busy_merged(path: Path) -> None:
        if Path(path).name == "merged":
            raise OSError(16, "Device or resource busy", str(path))
        real_rmtree(path)

    monkeypatch.setattr(shutil, "rmtree", busy_merged)
    with pytest.raises(OSError, match="busy"):
        host.destroy(sandbox)
    assert (sandbox.dir / state.MARKER).is_file()  # removed last: still there
    monkeypatch.setattr(shutil, "rmtree", real_rmtree)
    assert host.destroy_all() == ["box2"] and not sandbox.dir.exists()
