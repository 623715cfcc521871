"""The sub-commands of `amazon-sync`, grouped by area; each module has a register(commands) function."""
