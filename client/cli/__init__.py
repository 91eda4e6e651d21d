"""The `sluice` command-line tool; the entry point is client.cli.main:main."""
