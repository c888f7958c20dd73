"""Code every AECARO service shares: settings, logging, mutual TLS,
database access, and audit events with their outbox.

Nothing here knows about one service's business; each module has one job.
"""
