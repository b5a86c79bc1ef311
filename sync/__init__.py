"""Evolutto → Google Calendar sync service.

Import-time work is kept at zero: modules import only the standard library at the top,
and every Google client is created lazily in ``sync.bootstrap``.
"""
