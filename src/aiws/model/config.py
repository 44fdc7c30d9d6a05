"""The operator's configuration file: what a site decides (models, settings of components).

Versions, ports and paths are aiws's (the catalog); this file holds only the operator's
choices, in the place kolla keeps its globals.yml: `/etc/aiws/aiws.yml` by default, another
file with `--config FILE`. It is read and validated before anything else happens: an unknown
key, a wrong type or malformed YAML is one line naming the file and the key (exit 2). A
missing default file is an empty configuration; a missing `--config FILE` is an error.

Secrets are never in it, only their names (`aiws secrets set NAME` stores the values), so
the effective configuration can be shown and recorded in the ledger as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aiws.errors import UsageError
from aiws.model.catalog import SECRET_NAME, Catalog

CONFIG_NAME = "aiws.yml"
MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"
PROVIDER = r"^[a-z][a-z0-9_]{0,63}$"
COLLECTION_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
# Names of the built-in offline test models (LiteLLM's mock pair); not the operator's to use.
RESERVED_PREFIX = "aiws-"
TEST_MODELS = ("aiws-mock", "aiws-mock-gemini")
MAX_BYTES = 1 << 20


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Model(Strict):
    """One model consumers may ask LiteLLM for."""

    name: str = Field(pattern=MODEL_NAME, description="what consumers ask for")
    model: str = Field(min_length=1, max_length=200, description="the provider's model id")
    provider: str = Field(pattern=PROVIDER, description="LiteLLM provider, e.g. openai")
    api_key_secret: str | None = Field(
        None, pattern=SECRET_NAME, description="name of the secret holding its API key"
    )
    api_base: str | None = Field(None, description="the provider's URL, when not its default")

    @field_validator("api_base")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            parsed = urlparse(value)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value.startswith(RESERVED_PREFIX):
            raise ValueError(f"names starting with '{RESERVED_PREFIX}' are aiws's test models")
        return value


class Consumer(Strict):
    """What one consumer's LiteLLM key may do."""

    enabled: bool = Field(True, description="false revokes the key (refused from the next run)")
    models: list[str] | None = Field(
        None, min_length=1, description="the model names this key may use; unset: every model"
    )


class LiteLLMSettings(Strict):
    # The offline mock models (aiws-mock, aiws-mock-gemini): for tests and `aiws doctor`.
    test_models: bool = False
    # LiteLLM's database mode needs Prisma's engines, which no bundle carries (the guard
    # refuses it); keys, limits and logs work without it.
    database: bool = False
    # Per consumer (bridge, openclaw, hermes, codex, opencode, gemini, operator).
    consumers: dict[str, Consumer] = Field(default_factory=dict)


# A browser origin: scheme://host, an optional :port or a trailing :* (any port).
ORIGIN = r"^https?://[A-Za-z0-9.-]+(:([0-9]{1,5}|\*))?$"


class BridgeSettings(Strict):
    # Agents running at once (each serves one thread; threads are not limited): at the cap
    # the least recently used idle one is stopped, its thread continues later.
    max_sessions: int = Field(default=8, ge=1, le=64)
    # Those of one token at most; 0: as many as max_sessions.
    max_sessions_per_token: int = Field(default=0, ge=0, le=64)
    # An idle session's agent is stopped after this long (seconds).
    idle_timeout_s: int = Field(default=1800, ge=60, le=86400)
    # Browser origins allowed besides requests without an Origin (the app): none by default.
    origins: list[str] = Field(default_factory=list)
    # What an agent writes on stderr can hold prompts and tool output: dropped by default;
    # `journal` keeps it in the system journal (for debugging an agent) for its readers.
    agent_stderr: Literal["none", "journal"] = "none"

    @field_validator("origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not re.match(ORIGIN, origin):
                raise ValueError(f"'{origin}' is not an origin like https://app.example.com")
        return value


class Collection(Strict):
    """One directory of markdown QMD indexes (keyword search)."""

    name: str = Field(pattern=COLLECTION_NAME, description="how searches name it")
    path: str = Field(min_length=2, max_length=4096, description="an absolute directory")
    glob: str = Field("**/*.md", min_length=1, max_length=200, description="files to index")

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or any(part == ".." for part in value.split("/")):
            raise ValueError("must be an absolute path without '..'")
        if any(ch in value for ch in "\n\r\0"):
            raise ValueError("must be one line")
        return value.rstrip("/") or "/"

    @field_validator("glob")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if any(ch in value for ch in "\n\r\0"):
            raise ValueError("must be one line")
        return value


class QmdSettings(Strict):
    # The directories QMD indexes (keyword search only: vector search needs GGUF models
    # no bundle carries).
    collections: list[Collection] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> QmdSettings:
        seen: set[str] = set()
        for collection in self.collections:
            if collection.name in seen:
                raise ValueError(f"collection name '{collection.name}' is given twice")
            seen.add(collection.name)
        return self


class CaddyCertificate(Strict):
    """The operator's own certificate for the --domain site (instead of ACME or aiws's site CA):
    the chain and its key in PEM, each stored on the host with `aiws secrets set`."""

    certificate_secret: str = Field(pattern=SECRET_NAME, description="the PEM chain's secret")
    key_secret: str = Field(pattern=SECRET_NAME, description="the PEM private key's secret")


class CaddySettings(Strict):
    certificate: CaddyCertificate | None = None


class OperatorConfig(Strict):
    # What `aiws install` does when its flags do not say (--mode, --domain, --internal-ca
    # or --acme); a flag wins over the file.
    mode: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]{0,31}$")
    domain: str | None = Field(default=None, min_length=1, max_length=253)
    # How the --domain site gets its certificate: from ACME or from aiws's own CA for the site.
    # (An operator's certificate is caddy.certificate.)
    tls: Literal["acme", "internal"] | None = None
    models: list[Model] = Field(default_factory=list)
    litellm: LiteLLMSettings = Field(default_factory=LiteLLMSettings)
    qmd: QmdSettings = Field(default_factory=QmdSettings)
    caddy: CaddySettings = Field(default_factory=CaddySettings)
    bridge: BridgeSettings = Field(default_factory=BridgeSettings)

    @model_validator(mode="after")
    def _unique_model_names(self) -> OperatorConfig:
        seen: set[str] = set()
        for model in self.models:
            if model.name in seen:
                raise ValueError(f"model name '{model.name}' is given twice")
            seen.add(model.name)
        return self

    @model_validator(mode="after")
    def _consumer_models_exist(self) -> OperatorConfig:
        known = self.model_names()
        for consumer, settings in self.litellm.consumers.items():
            for name in settings.models or []:
                if name not in known:
                    raise ValueError(
                        f"litellm.consumers.{consumer}.models: no model named '{name}' "
                        f"(configured: {', '.join(known) or 'none'})"
                    )
        return self

    def model_names(self) -> list[str]:
        """Every model name LiteLLM will serve with this configuration."""
        names = [m.name for m in self.models]
        return names + list(TEST_MODELS) if self.litellm.test_models else names

    def secret_names(self) -> list[str]:
        """The secrets this configuration names (they must exist on the hosts)."""
        names = {m.api_key_secret for m in self.models if m.api_key_secret}
        if self.caddy.certificate is not None:
            names |= {self.caddy.certificate.certificate_secret, self.caddy.certificate.key_secret}
        return sorted(n for n in names if n)


@dataclass(frozen=True)
class LoadedConfig:
    config: OperatorConfig
    source: str | None  # the file it came from; None: no file, the defaults

    def effective(self) -> dict[str, Any]:
        """What is recorded in the ledger and shown by `aiws config show`."""
        return {"source": self.source, **self.config.model_dump(mode="json")}


def recorded_config(effective: dict[str, Any] | None) -> OperatorConfig | None:
    """A configuration recorded in a ledger, None when there is none or it is damaged."""
    if not effective:
        return None
    try:
        return OperatorConfig.model_validate({k: v for k, v in effective.items() if k != "source"})
    except ValidationError:
        return None


def agent_models(config: OperatorConfig, test_model: str) -> list[str]:
    """The models an agent is offered, its default first: the operator's, then the mock of
    the API it speaks when the test models are on."""
    names = [m.name for m in config.models]
    return [*names, test_model] if config.litellm.test_models else names


def served_models(effective: dict[str, Any]) -> list[str]:
    """The model names of a recorded effective configuration (none when it is damaged)."""
    config = recorded_config(effective)
    return config.model_names() if config is not None else []


def default_path(catalog: Catalog) -> Path:
    return Path(catalog.paths.config) / CONFIG_NAME


def load_config(catalog: Catalog, path: Path | None = None) -> LoadedConfig:
    """The operator's configuration from `path` (or the default file, when it exists)."""
    explicit = path is not None
    path = path if path is not None else default_path(catalog)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        if explicit:
            raise UsageError(
                f"{path}: no such configuration file", "give the path of one"
            ) from None
        return LoadedConfig(OperatorConfig(), None)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it ({exc.strerror})", "check the file") from None
    if len(raw) > MAX_BYTES:
        raise UsageError(f"{path}: larger than {MAX_BYTES} bytes", "is this the right file?")
    config = parse_config(raw, str(path))
    _check_consumers(config, catalog, str(path))
    return LoadedConfig(config, str(path))


def consumers(catalog: Catalog) -> list[str]:
    """Who gets a LiteLLM key of their own (the catalog's litellm secrets but the master)."""
    return [s.key for s in catalog.components["litellm"].secrets if s.key and s.key != "master"]


def _check_consumers(config: OperatorConfig, catalog: Catalog, where: str) -> None:
    known = consumers(catalog)
    for name in config.litellm.consumers:
        if name not in known:
            raise UsageError(
                f"{where}: litellm.consumers.{name}: unknown consumer",
                f"choose from: {', '.join(known)}",
            )


def parse_config(raw: bytes, where: str) -> OperatorConfig:
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"{where}: not UTF-8 text", "save it as UTF-8") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{where}: {_yaml_problem(exc)}", "fix the YAML syntax") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError(f"{where}: the top level must be a mapping of keys", "see docs/config.md")
    try:
        return OperatorConfig.model_validate(data)
    except ValidationError as exc:
        raise UsageError(f"{where}: {_first_problem(exc)}", "see docs/config.md") from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "malformed YAML"
    return f"line {mark.line + 1}: {problem}" if mark is not None else str(problem)


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    key = _dotted(error["loc"])
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    message = re.sub(r"^Value error, ", "", error["msg"])
    return f"{key}: {message}" if key else message


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
