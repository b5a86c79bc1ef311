"""The spine's use case: one change applied to a user's calendar (``service.py``), the Calendar
writes every writer of an event shares (``writes.py``), and parked changes sent back once the
connection can write again (``parked.py``). On the kernel's ports; imports no adapter."""
