"""What the vault prints while storing and decrypting never holds the secret."""

from services.contracts import vault_pb2
from tests.vault.helpers import new_owner, new_secret, store


async def test_store_and_decrypt_log_ids_but_not_the_secret(gateway, executor, capfd, caplog):
    owner, secret = new_owner(), new_secret()
    stored = await store(gateway, owner, secret)
    await executor.DecryptKey(
        vault_pb2.DecryptKeyRequest(owner_id=owner, key_id=stored.key_id, run_id="run-logs")
    )

    out, err = capfd.readouterr()
    printed = out + err + caplog.text
    assert "key_stored" in printed and "key_decrypted" in printed  # the capture works
    assert stored.key_id in printed
    assert secret not in printed
