"""Connections (docs/connections.md): a user's Google grant and chosen calendar, from the link to
the disconnect. Use cases on the kernel's ports; the routes are in sync/web/ (connect.py,
connections.py), the stores in sync/adapters/firestore/ (connections.py, flow_sessions.py,
disconnects.py).

    activate.py    a calendar chosen for a grant: the connect flow's POST /calendars and
                   ``import-connection`` alike
    flow.py        the browser flow's steps (link → OAuth → calendars → choice)
    oauth.py       PKCE and the authorization URL
    status.py      the status route's view, with the sections other capabilities add
    disconnect.py  the disconnect: its request, its job chain on the bulk lane, resuming a stalled one
    removal.py     the disconnect's steps after its transition
"""
