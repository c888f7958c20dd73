"""Signed audit events: only the platform CA's services, only unaltered bytes."""

import base64
from datetime import UTC, datetime, timedelta

import pytest
import trustme

from services.common.event_signing import (
    CERTIFICATE_HEADER,
    SIGNATURE_HEADER,
    EventSigner,
    EventVerifier,
    UntrustedEventError,
)
from services.common.mtls import ServiceCredentials
from tests.crafted_certificates import certificate_with_a_duplicate_extension

NOW = datetime.now(UTC)
PAYLOAD = b'{"type":"key.stored"}'


@pytest.fixture(scope="module")
def verifier(pki_dir) -> EventVerifier:
    return EventVerifier((pki_dir / "ca.pem").read_bytes())


@pytest.fixture(scope="module")
def vault_headers(pki_dir) -> dict:
    return EventSigner(ServiceCredentials.load(pki_dir, "vault")).headers_for(PAYLOAD)


def test_the_signer_is_named_by_its_certificate(verifier, vault_headers):
    assert verifier.signer_of(PAYLOAD, vault_headers, signed_at=NOW) == "vault"


@pytest.mark.parametrize(
    "headers_change",
    [
        {SIGNATURE_HEADER: None},
        {CERTIFICATE_HEADER: None},
        {SIGNATURE_HEADER: "not base64!"},
        {CERTIFICATE_HEADER: "bm90IGEgY2VydGlmaWNhdGU="},
        {SIGNATURE_HEADER: "AAAA"},
    ],
)
def test_missing_or_broken_headers_are_untrusted(verifier, vault_headers, headers_change):
    headers = {**vault_headers, **headers_change}
    headers = {name: value for name, value in headers.items() if value is not None}
    with pytest.raises(UntrustedEventError):
        verifier.signer_of(PAYLOAD, headers, signed_at=NOW)


def test_no_headers_at_all_is_untrusted(verifier):
    with pytest.raises(UntrustedEventError):
        verifier.signer_of(PAYLOAD, None, signed_at=NOW)


def test_altered_bytes_are_untrusted(verifier, vault_headers):
    with pytest.raises(UntrustedEventError):
        verifier.signer_of(PAYLOAD + b" ", vault_headers, signed_at=NOW)


def test_an_expired_certificate_is_untrusted(verifier, vault_headers):
    with pytest.raises(UntrustedEventError):
        verifier.signer_of(PAYLOAD, vault_headers, signed_at=NOW + timedelta(days=400))


def test_another_signers_certificate_does_not_fit_the_signature(pki_dir, verifier, vault_headers):
    identity = EventSigner(ServiceCredentials.load(pki_dir, "identity")).headers_for(PAYLOAD)
    mixed = {**vault_headers, CERTIFICATE_HEADER: identity[CERTIFICATE_HEADER]}
    with pytest.raises(UntrustedEventError):
        verifier.signer_of(PAYLOAD, mixed, signed_at=NOW)


def test_a_signer_needs_an_ecdsa_key(tmp_path):
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    leaf = ca.issue_cert("vault", common_name="vault", key_type=trustme.KeyType.RSA)
    credentials = ServiceCredentials(
        service="vault",
        ca_pem=ca.cert_pem.bytes(),
        cert_pem=leaf.cert_chain_pems[0].bytes(),
        key_pem=leaf.private_key_pem.bytes(),
    )
    with pytest.raises(ValueError, match="ECDSA"):
        EventSigner(credentials)


def test_the_signer_does_not_show_its_key(pki_dir):
    signer = EventSigner(ServiceCredentials.load(pki_dir, "vault"))
    assert "PRIVATE" not in repr(signer) and "hidden" in repr(signer)


def test_a_certificate_the_parser_chokes_on_is_untrusted(verifier, vault_headers):
    crafted = base64.b64encode(certificate_with_a_duplicate_extension()).decode()
    with pytest.raises(UntrustedEventError):
        verifier.signer_of(PAYLOAD, {**vault_headers, CERTIFICATE_HEADER: crafted}, signed_at=NOW)
