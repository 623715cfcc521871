"""The pure core: the sync's data types and the rules that turn offers into Amazon messages. No I/O."""
