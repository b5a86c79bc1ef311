"""Google Meet's follow-up (docs/events.md#google-meet): a conference Google is still creating is read
again, on the bulk lane, until it is settled, and the platform told once. The conference part of a
write is the kernel's (sync/kernel/conference.py), applied by the spine (sync/apply/service.py)."""
