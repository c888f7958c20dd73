"""Certificates no honest issuer would write, for tests of what parses them."""

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def certificate_with_a_duplicate_extension() -> bytes:
    """DER of a certificate whose extended key usage appears twice: parsing
    its extensions raises cryptography's DuplicateExtension, not a ValueError."""
    now = datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "identity")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.KeyUsage(True, *[False] * 8), critical=False)
        .sign(key, hashes.SHA256())
    )
    der = certificate.public_bytes(serialization.Encoding.DER)
    key_usage_oid, extended_key_usage_oid = bytes.fromhex("0603551d0f"), bytes.fromhex("0603551d25")
    assert der.count(key_usage_oid) == 1
    return der.replace(key_usage_oid, extended_key_usage_oid)
