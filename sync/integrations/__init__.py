"""The "External integrations" flow (contract §4): connect, pick a calendar, status, disconnect."""
