"""The `aiws` command line: thin commands over the logic modules."""
