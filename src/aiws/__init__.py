"""aiws: install, check and remove an AI Workspace Runtime from a verified offline bundle."""

__version__ = "0.1.0"
