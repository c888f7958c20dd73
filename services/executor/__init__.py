"""The executor service: runs agents' code in throw-away sandboxes with the
owner's API key, which it fetches from the vault for each run.

Modules: settings (ExecutorSettings), sandbox (the Sandbox protocol and its
bubblewrap implementation), vault_client (DecryptKey over mutual TLS), storage
(runs and their audit events), runs (the run life cycle), grpc_api (the
Executor servicer), service (start/stop).
"""
