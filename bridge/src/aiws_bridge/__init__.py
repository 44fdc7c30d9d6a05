"""The aiws Bridge: XWorkmate's wire contract over HTTP, SSE and WebSocket, token auth always
on, and one ACP agent per session as a stdio child. It imports nothing from the installer."""

__version__ = "0.1.0"
