"""`aiws config show`: the operator's configuration as the next install would apply it."""

from __future__ import annotations

import typer
import yaml
from rich.markup import escape

from aiws.cli.options import ConfigOpt, JsonOpt
from aiws.cli.output import Output
from aiws.model.catalog import load_catalog
from aiws.model.config import default_path, load_config

app = typer.Typer(
    help="The operator's configuration file (models, settings; docs/config.md).",
    no_args_is_help=True,
)


@app.command("show")
def show_command(config: ConfigOpt = None, json_output: JsonOpt = False) -> None:
    """Validate the configuration and print it with every default filled in. It names
    secrets only; their values stay in `aiws secrets`."""
    out = Output(json_mode=json_output)
    catalog = load_catalog()
    loaded = load_config(catalog, config)
    if json_output:
        out.data(loaded.effective())
        return
    source = loaded.source or f"no file ({default_path(catalog)} does not exist): the defaults"
    out.print(f"[dim]# from {escape(source)}[/]")
    # Plain YAML on stdout (no markup: values may hold brackets), ready to save and edit.
    print(yaml.safe_dump(loaded.config.model_dump(mode="json"), sort_keys=False).rstrip())
