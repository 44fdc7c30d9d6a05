"""The operator's configuration file: validated before anything happens, one line naming
the file and the key for every problem, and the commented example in docs/ stays valid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiws.errors import UsageError
from aiws.model.catalog import load_catalog
from aiws.model.config import load_config, parse_config, served_models
from tests.helpers.cli import aiws

CATALOG = load_catalog()
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "aiws.example.yml"
WHERE = "/etc/aiws/aiws.yml"


def test_the_documented_example_is_valid() -> None:
    config = load_config(CATALOG, EXAMPLE).config
    assert [m.name for m in config.models] == ["gpt-4.1", "claude-sonnet", "local-llama"]
    assert config.secret_names() == ["anthropic-api-key", "openai-api-key"]
    assert config.litellm.test_models is False
    assert [c.name for c in config.qmd.collections] == ["notes"]


def test_no_default_file_is_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = load_config(CATALOG)
    if Path(WHERE).exists():
        pytest.skip(f"{WHERE} exists on this machine")
    assert loaded.source is None and loaded.config.models == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("models:\n  - {name: a, model: x, provider: openai, colour: red}\n",
         "models[0].colour: unknown key"),
        ("litelm: {}\n", "litelm: unknown key"),
        ("models: [\n", "line 2:"),
        ("- a\n", "the top level must be a mapping"),
        ("litellm: {test_models: maybe}\n", "litellm.test_models: Input should be a valid boolean"),
        ("models:\n  - {name: aiws-mock, model: x, provider: openai}\n",
         "models[0].name: names starting with 'aiws-' are aiws's test models"),
        ("models:\n  - {name: a, model: x, provider: openai}\n"
         "  - {name: a, model: y, provider: openai}\n", "model name 'a' is given twice"),
        ("models:\n  - {name: a, model: x, provider: openai, api_base: 'ftp://h'}\n",
         "models[0].api_base: must be an http:// or https:// URL"),
        ("models:\n  - {name: a, model: x, provider: openai, api_key_secret: ../k}\n",
         "models[0].api_key_secret: String should match pattern"),
        ("models:\n  - {name: a, provider: openai}\n", "models[0].model: Field required"),
        ("litellm: {consumers: {codex: {models: [gpt]}}}\n",
         "litellm.consumers.codex.models: no model named 'gpt' (configured: none)"),
        ("litellm: {test_models: true, consumers: {codex: {models: []}}}\n",
         "litellm.consumers.codex.models: List should have at least 1 item"),
        ("litellm: {consumers: {codex: {enabled: no, colour: red}}}\n",
         "litellm.consumers.codex.colour: unknown key"),
        ("litellm: {database: sometimes}\n", "litellm.database: Input should be a valid boolean"),
        ("bridge: {max_sessions: 0}\n", "bridge.max_sessions: Input should be greater than"),
        ("bridge: {origins: ['https://a.example.com/path']}\n",
         "bridge.origins: 'https://a.example.com/path' is not an origin"),
        ("caddy: {certificate: {certificate_secret: crt}}\n",
         "caddy.certificate.key_secret: Field required"),
        ("qmd: {collections: [{name: n, path: docs}]}\n",
         "qmd.collections[0].path: must be an absolute path without '..'"),
        ("qmd: {collections: [{name: n, path: /srv/../etc}]}\n",
         "qmd.collections[0].path: must be an absolute path without '..'"),
        ("qmd: {collections: [{name: 'a b', path: /srv/notes}]}\n",
         "qmd.collections[0].name: String should match pattern"),
        ("qmd: {collections: [{name: n, path: /srv/a}, {name: n, path: /srv/b}]}\n",
         "qmd: collection name 'n' is given twice"),
        ("qmd: {collections: [{name: n, path: /srv/a, pattern: '*.md'}]}\n",
         "qmd.collections[0].pattern: unknown key"),
        ("qmd: {collections: [{name: n, path: /srv/a, glob: ''}]}\n",
         "qmd.collections[0].glob: String should have at least 1 character"),
        ("qmd: {index: true}\n", "qmd.index: unknown key"),
    ],
)  # fmt: skip
def test_each_problem_is_one_line_naming_file_and_key(text: str, problem: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_config(text.encode(), WHERE)
    message = str(caught.value)
    assert message.startswith(f"{WHERE}: ") and problem in message and "\n" not in message


def test_qmd_collections_default_their_glob_and_lose_a_trailing_slash() -> None:
    config = parse_config(
        b"qmd:\n  collections:\n    - {name: notes, path: /srv/notes/}\n"
        b"    - {name: wiki, path: /srv/wiki, glob: '**/*.markdown'}\n",
        WHERE,
    )
    assert [c.model_dump() for c in config.qmd.collections] == [
        {"name": "notes", "path": "/srv/notes", "glob": "**/*.md"},
        {"name": "wiki", "path": "/srv/wiki", "glob": "**/*.markdown"},
    ]
    assert parse_config(b"", WHERE).qmd.collections == []


def test_non_utf8_and_missing_explicit_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not UTF-8"):
        parse_config(b"\xff\xfe", WHERE)
    with pytest.raises(UsageError, match="no such configuration file"):
        load_config(CATALOG, tmp_path / "missing.yml")


def test_config_show_prints_the_effective_configuration(tmp_path: Path) -> None:
    shown = aiws("config", "show", "--config", str(EXAMPLE), "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["source"] == str(EXAMPLE)
    assert data["models"][0] == {
        "name": "gpt-4.1", "model": "gpt-4.1", "provider": "openai",
        "api_key_secret": "openai-api-key", "api_base": None,
    }  # fmt: skip
    text = aiws("config", "show", "--config", str(EXAMPLE))
    assert text.returncode == 0 and "api_key_secret: openai-api-key" in text.stdout


def test_config_show_refuses_a_bad_file_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "aiws.yml"
    bad.write_text("models:\n  - {name: a, model: x, provider: openai, colour: red}\n")
    shown = aiws("config", "show", "--config", str(bad))
    assert shown.returncode == 2 and shown.stdout == ""
    assert shown.stderr.strip().splitlines() == [
        f"error: {bad}: models[0].colour: unknown key; see docs/config.md"
    ]


def test_a_consumer_must_be_one_that_has_a_key(tmp_path: Path) -> None:
    config = tmp_path / "aiws.yml"
    config.write_text("litellm:\n  consumers:\n    bridge: {enabled: false}\n    mallory: {}\n")
    with pytest.raises(UsageError) as caught:
        load_config(CATALOG, config)
    assert caught.value.problem == f"{config}: litellm.consumers.mallory: unknown consumer"
    assert "bridge, openclaw, hermes, codex, opencode, gemini, operator" in caught.value.fix


def test_served_models_come_from_a_recorded_configuration() -> None:
    recorded = load_config(CATALOG, EXAMPLE).effective()
    assert served_models(recorded) == ["gpt-4.1", "claude-sonnet", "local-llama"]
    with_mocks = {**recorded, "litellm": {"test_models": True}}
    assert served_models(with_mocks)[-2:] == ["aiws-mock", "aiws-mock-gemini"]
    assert served_models({"models": "damaged"}) == []
