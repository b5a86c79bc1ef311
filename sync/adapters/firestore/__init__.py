"""Firestore adapters: one base (sync/adapters/firestore/base.py) and a store per capability."""
