"""A stand-in Vault for the executor's tests: a real gRPC server over mutual TLS
with the vault's certificate, that knows one key of one owner.

It answers DecryptKey like the real vault would (NOT_FOUND for any other owner
or key, PERMISSION_DENIED for any caller but the executor) and remembers each
request it got, so tests can check the run id the executor sent.
"""

from dataclasses import dataclass, field
from pathlib import Path

import grpc

from services.common.mtls import ServiceCredentials, caller_of
from services.common.runtime import start_grpc_server
from services.contracts import vault_pb2, vault_pb2_grpc


@dataclass
class DecryptRequest:
    owner_id: str
    key_id: str
    run_id: str


@dataclass
class FakeVault(vault_pb2_grpc.VaultServicer):
    owner_id: str
    key_id: str
    secret: bytes = field(repr=False)
    requests: list[DecryptRequest] = field(default_factory=list)

    async def DecryptKey(self, request, context):  # noqa: N802 (generated name)
        if caller_of(context) != "executor":
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "caller not allowed")
        self.requests.append(DecryptRequest(request.owner_id, request.key_id, request.run_id))
        if (request.owner_id, request.key_id) != (self.owner_id, self.key_id):
            await context.abort(grpc.StatusCode.NOT_FOUND, "key not found")
        return vault_pb2.DecryptKeyResponse(secret=self.secret)


async def start_fake_vault(vault: FakeVault, *, address: str, pki_dir: Path) -> grpc.aio.Server:
    return await start_grpc_server(
        vault_pb2_grpc.add_VaultServicer_to_server,
        vault,
        address=address,
        credentials=ServiceCredentials.load(pki_dir, "vault"),
    )
