"""The offline bundle: build it from the registries, verify it, inspect it (docs/bundle.md)."""
