"""Hermes's role and what an agent adds to the skeleton: the model it is given, its
configuration and launcher as rendered, the status of an agent (no unit, no probe: its
files), and records that gained the `files` list."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jinja2
import jinja2.nativetypes
import pytest
import yaml

from aiws.model.catalog import load_catalog
from aiws.model.resolve import resolved_catalog
from aiws.module_utils.aiws_common import merge_record
from aiws.modules import aiws_status

ROLE = Path(__file__).resolve().parents[2] / "roles" / "hermes"
CATALOG = resolved_catalog(load_catalog(), "debian-12")
HERMES = CATALOG["components"]["hermes"]
MODEL = {"name": "gpt", "model": "gpt-4.1", "provider": "openai", "api_key_secret": "k"}


def render_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """The role's defaults as Ansible resolves them for a run with `config` (native types)."""
    env = jinja2.nativetypes.NativeEnvironment(undefined=jinja2.StrictUndefined)
    env.filters["basename"] = os.path.basename
    env.filters["bool"] = bool
    values: dict[str, Any] = {
        "aiws_catalog": CATALOG,
        "aiws_run": {"config": config},
        "aiws_endpoints": {"litellm": {"url": "http://127.0.0.1:4000"}},
        "ansible_managed": "Ansible managed",
    }
    raw = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    for name, value in raw.items():  # in order: later defaults use earlier ones
        values[name] = env.from_string(value).render(values) if isinstance(value, str) else value
    return values


def render(template: str, config: dict[str, Any]) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.from_string((ROLE / "templates" / template).read_text()).render(
        render_defaults(config)
    )


@pytest.mark.parametrize(
    ("config", "model"),
    [
        ({"models": [MODEL, {**MODEL, "name": "other"}], "litellm": {"test_models": True}}, "gpt"),
        ({"models": [], "litellm": {"test_models": True}}, "aiws-mock"),
        ({"models": [], "litellm": {"test_models": False}}, None),
    ],
    ids=["the operator's first model", "the offline mock", "no model at all"],
)
def test_hermes_is_given_the_first_model_else_the_mock(
    config: dict[str, Any], model: str | None
) -> None:
    settings = yaml.safe_load(render("config.yaml.j2", config))
    assert settings["model"].get("default") == model
    assert settings["model"]["provider"] == "custom"
    assert settings["model"]["base_url"] == "http://127.0.0.1:4000/v1"
    # Filled in on the host from LiteLLM's secret for the hermes consumer.
    assert settings["model"]["api_key"] == "@AIWS_SECRET(litellm-key-hermes)@"
    # Hermes refuses less than 64000 tokens and looks the length up online without it.
    assert settings["model"]["context_length"] >= 64000


def test_everything_that_would_reach_the_internet_is_off() -> None:
    settings = yaml.safe_load(render("config.yaml.j2", {"litellm": {"test_models": True}}))
    assert settings["model_catalog"]["enabled"] is False
    assert settings["lsp"]["enabled"] is False
    assert settings["curator"]["enabled"] is False
    assert settings["security"] == {"allow_lazy_installs": False, "tirith_enabled": False}


def test_the_launcher_runs_hermes_acp_as_its_account_with_its_home() -> None:
    text = render("launcher.sh.j2", {"models": [], "litellm": {"test_models": False}})
    layout, home = HERMES["layout"], HERMES["paths"]["state"]
    assert text.startswith("#!/bin/sh\n")
    assert f'[ "$(id -un)" != "{HERMES["user"]}" ]' in text
    assert f'HERMES_HOME="{home}"' in text and 'HOME="$HERMES_HOME"' in text
    assert f'install -m 0600 "{layout["settings"]}" "$HERMES_HOME/config.yaml"' in text
    assert text.rstrip().endswith(f'exec "{layout["venv"]}/bin/hermes" acp "$@"')
    assert layout["launcher"] == f"{HERMES['runtime_root']}/{HERMES['version']}/bin/aiws-hermes-acp"


def agent_spec() -> dict[str, Any]:
    return {"name": "hermes", "kind": "agent", "unit": "", "listen": None, "health": None}


def test_an_agent_is_healthy_when_its_directories_and_files_are_there(tmp_path: Path) -> None:
    config, state = tmp_path / "config", tmp_path / "state"
    config.mkdir()
    state.mkdir()
    launcher = tmp_path / "launcher"
    launcher.write_text("#!/bin/sh\n")
    record = {
        "version": "0.19.0",
        "paths": [str(config), str(state)],
        "runtime": [str(tmp_path)],
        "units": [],
        "files": [str(config / "config.yaml"), str(launcher)],
    }
    (config / "config.yaml").write_text("model: {}\n")
    result = aiws_status.probe_one(agent_spec(), record, 1.0)
    assert (result["installed"], result["healthy"], result["detail"]) == (
        True,
        True,
        "files present",
    )
    assert result["unit"] == "" and result["version"] == "0.19.0"

    launcher.unlink()
    result = aiws_status.probe_one(agent_spec(), record, 1.0)
    assert result["healthy"] is False and result["detail"] == f"missing: {launcher}"


def test_an_uninstalled_agent_with_its_data_kept_is_not_installed() -> None:
    kept = {"version": "0.19.0", "paths": ["/x"], "runtime": [], "units": [], "files": []}
    result = aiws_status.probe_one(agent_spec(), kept, 1.0)
    assert result["installed"] is False
    assert result["detail"] == "uninstalled; data kept (uninstall --purge removes it)"


def test_a_record_without_the_files_list_is_not_changed_by_an_empty_one() -> None:
    old = {"version": "15", "paths": ["/etc/aiws/postgresql"], "units": ["aiws-postgresql.service"]}
    components: dict[str, Any] = {"postgresql": dict(old)}
    assert merge_record(components, "postgresql", {**old, "files": []}) is False
    assert merge_record(components, "postgresql", {**old, "files": ["/etc/x"]}) is True
    assert components["postgresql"]["files"] == ["/etc/x"]
