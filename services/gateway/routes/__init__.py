"""Public API routes, one module per resource."""
