"""Operator commands: ``python -m sync.ops --help`` (docs/configuration.md#operations)."""
