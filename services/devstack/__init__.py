"""The one-machine development stack behind `make run`: a development CA,
PostgreSQL and NATS when none are given, migrations, and the five services.

Nothing here runs in production; Kubernetes deploys the same services from
deploy/k8s/ with real certificates and managed databases.
"""
