"""`aiws-bridge --config /etc/aiws/bridge/bridge.json`: serve the Bridge with uvicorn."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from aiws_bridge.app import create_app
from aiws_bridge.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aiws-bridge", description=__doc__)
    parser.add_argument("--config", type=Path, required=True, help="the Bridge's settings file")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except (OSError, ValueError, ValidationError) as exc:
        print(f"aiws-bridge: {args.config}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    # The access log has method, path and status only: no token, no prompt.
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.port, proxy_headers=False,
        server_header=False, timeout_keep_alive=120, log_level="info",
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
