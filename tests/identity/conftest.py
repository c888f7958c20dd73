"""An identity service started in-process for this package's tests."""

import pytest

from services.identity.service import IdentitySettings, start
from services.identity.signing import create_signing_key_file


@pytest.fixture(scope="package")
async def identity(platform_settings, tmp_path_factory):
    key_file = tmp_path_factory.mktemp("identity") / "signing-key.pem"
    create_signing_key_file(key_file)
    settings = IdentitySettings(
        **platform_settings.model_dump(), identity_signing_key_file=key_file
    )
    running = await start(settings)
    yield running
    await running.stop()
