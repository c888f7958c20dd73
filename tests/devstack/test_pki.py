"""The development CA: created once, private keys private, leaves renewed."""

import stat
from datetime import UTC, datetime, timedelta

from cryptography import x509

from services.common.settings import SERVICE_NAMES
from services.devstack.pki import PUBLIC_HTTPS, ensure_dev_pki


def _common_name(path) -> str:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value


def test_every_service_gets_a_certificate_named_after_it(tmp_path):
    pki = ensure_dev_pki(tmp_path / "pki")
    for name in (*SERVICE_NAMES, PUBLIC_HTTPS):
        assert _common_name(pki / f"{name}.pem") == name
        assert stat.S_IMODE((pki / f"{name}.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((pki / "ca.key").stat().st_mode) == 0o600


def test_a_second_start_reuses_everything(tmp_path):
    pki = ensure_dev_pki(tmp_path / "pki")
    before = {path.name: path.read_bytes() for path in pki.iterdir()}
    ensure_dev_pki(pki)
    assert {path.name: path.read_bytes() for path in pki.iterdir()} == before


def test_a_certificate_near_its_end_is_issued_again(tmp_path):
    pki = ensure_dev_pki(tmp_path / "pki")
    old_vault = (pki / "vault.pem").read_bytes()
    old_ca = (pki / "ca.pem").read_bytes()
    ensure_dev_pki(pki, now=datetime.now(UTC) + timedelta(days=340))
    assert (pki / "vault.pem").read_bytes() != old_vault
    assert (pki / "ca.pem").read_bytes() == old_ca
