"""The `sluice` command-line tool; the entry point is sluice.client.cli.main:main."""
