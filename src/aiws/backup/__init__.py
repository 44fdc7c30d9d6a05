"""Backups: the site sealed into one archive, and read back for a restore."""
