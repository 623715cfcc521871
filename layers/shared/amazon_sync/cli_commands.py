"""Sub-commands beyond `db`; each registers itself with the parser in cli.py."""
