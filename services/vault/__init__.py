"""The vault service."""
