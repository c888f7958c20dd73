"""Pure ASGI middleware of the gateway, one concern per module."""
