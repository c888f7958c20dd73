"""AECARO platform services: gateway, identity, vault, executor and audit."""
