"""Operator commands: ``python -m sync.ops --help`` (contract §6)."""
