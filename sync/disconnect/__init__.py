"""Disconnect (CONTRACT §4): a state first, then removal, then the revoke.

    DELETE /api/connections/{a}/{u}[?remove_events=true]
      1. one transaction: the connection becomes ``disconnecting`` (every writer sees it: the worker's
         changes, snapshot changes, drift restores and calendar moves are refused from here on), its
         drift state (channel, sync token, pending check) and its calendar move are forgotten, and a
         ``disconnects/{a:u}`` record keeps what the rest needs: the grants (references), calendar
         and channel, no event contents;
      2. the channel is stopped at Google;
      3. forget: mappings that need no removal are deleted, the others keep only what deleting their
         Google event needs (ids, calendar, lease); the user's snapshots, event copies included, go;
      4. remove (``remove_events``): each remaining mapping's Google event is deleted (sendUpdates
         none), its mapping with it; a mapping still leased by a write that began before step 1
         is left until its lease ends, so no write lands after its event was removed;
      5. revoke and destroy the grants, then ``disconnected`` with ``connection.disconnected``
         (``events_removed``) in one transaction.

Few events (``INLINE_EVENTS``): all of it within the request (200, as before). More: the request
answers 202 after step 3 and ``disconnect`` jobs on the bulk lane do the rest, paced on the user's
bulk budget, each continuing the chain; the status route shows ``"removing"`` meanwhile. A chain
that stalls (a lost job) is resumed by the maintenance task.

    store.py    Firestore (the record, the transition, forgetting, removal, finishing)
    removal.py  the steps above, on the store, Calendar, the token vault and the throttle
    api.py      the DELETE route and the status route's ``removing``
    job.py      the bulk lane's ``disconnect`` job and the maintenance task
"""
