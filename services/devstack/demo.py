"""`make demo`: the main job, end to end, against a running `make run`.

Signs up a fresh user, logs in, seals a (fake) LLM key, runs an agent that
reads the key from /run/secrets/llm_api_key inside its sandbox, and shows the
user's audit trail. Only the key's last four characters are ever printed.
"""

import os
import secrets
import ssl
import sys
import time
from pathlib import Path

import httpx

AGENT_CODE = """\
import hashlib, os, socket
key = open("/run/secrets/llm_api_key").read()
digest = hashlib.sha256(key.encode()).hexdigest()[:12]
print("agent: key file has", len(key), "characters, sha256 prefix", digest)
print("agent: key in environment?", any(key in v for v in os.environ.values()))
try:
    socket.create_connection(("1.1.1.1", 443), timeout=2)
    print("agent: network reachable")
except OSError as error:
    print("agent: no network:", type(error).__name__)
"""


def _check(response: httpx.Response, expected: int) -> dict:
    if response.status_code != expected:
        sys.exit(f"unexpected {response.status_code} from {response.request.url}: {response.text}")
    return response.json()


def main() -> None:
    port = os.environ.get("AECARO_GATEWAY_PORT", "8443")
    base = os.environ.get("AECARO_GATEWAY_URL", f"https://localhost:{port}")
    ca_file = Path(os.environ.get("AECARO_STATE_DIR", ".state")) / "pki" / "ca.pem"
    email = f"demo-{secrets.token_hex(4)}@example.com"
    password = secrets.token_urlsafe(18)
    fake_key = "sk-demo-" + secrets.token_urlsafe(24)

    if not ca_file.is_file():
        sys.exit(f"{ca_file} is missing: start the platform with `make run` first")
    tls = ssl.create_default_context(cafile=str(ca_file))
    with httpx.Client(base_url=base, verify=tls, timeout=15) as api:
        user = _check(api.post("/v1/auth/signup", json={"email": email, "password": password}), 201)
        print(f"signed up {user['email']} as {user['user_id']}")
        tokens = _check(
            api.post("/v1/auth/login", json={"email": email, "password": password}), 200
        )
        print(f"logged in: access token valid {tokens['expires_in']} s")
        api.headers["Authorization"] = f"Bearer {tokens['access_token']}"

        key = _check(
            api.post("/v1/keys", json={"provider": "openai", "label": "demo", "secret": fake_key}),
            201,
        )
        print(f"stored key {key['key_id']} (…{key['last_four']}, KEK v{key['kek_version']})")
        listed = _check(api.get("/v1/keys"), 200)
        print(f"GET /v1/keys lists {len(listed['keys'])} key(s)")

        run = _check(api.post("/v1/runs", json={"key_id": key["key_id"], "code": AGENT_CODE}), 202)
        print(f"run {run['run_id']} is {run['status']}")
        deadline = time.monotonic() + 60
        while run["status"] in ("pending", "running"):
            if time.monotonic() > deadline:
                sys.exit("the run did not finish within 60 s")
            time.sleep(0.5)
            run = _check(api.get(f"/v1/runs/{run['run_id']}"), 200)
        print(f"run {run['status']} with exit code {run['exit_code']}; output:")
        print("  " + run["output"].rstrip().replace("\n", "\n  "))

        if run["status"] != "succeeded":
            sys.exit(f"the agent run ended {run['status']}, not succeeded")

        # Events travel through NATS to the audit service: wait for the last one.
        deadline = time.monotonic() + 20
        events = _check(api.get("/v1/audit/events"), 200)["events"]
        while not any(event["type"] == "run.finished" for event in events):
            if time.monotonic() > deadline:
                sys.exit("run.finished did not reach the audit trail within 20 s")
            time.sleep(0.5)
            events = _check(api.get("/v1/audit/events"), 200)["events"]
        print("audit trail:")
        for event in events:
            print(f"  #{event['sequence']} {event['type']:<16} hash {event['hash'][:16]}…")


if __name__ == "__main__":
    try:
        main()
    except httpx.TransportError as failure:
        sys.exit(f"cannot reach the gateway ({type(failure).__name__}): is `make run` running?")
