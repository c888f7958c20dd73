"""Audit events signed by the service that emits them.

NATS carries the events but does not vouch for who published them. So each
service signs an event's exact bytes with the private key of its mutual-TLS
certificate and sends that certificate along; the audit service checks the
certificate against the platform CA, checks the signature, and stores the
event only if the certificate names the service the event claims to come from.
A forged or altered event is refused, whoever could publish on the subject.
"""

import base64
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from services.common.mtls import ServiceCredentials
from services.common.settings import SERVICE_NAMES

SIGNATURE_HEADER = "Aecaro-Signature"
CERTIFICATE_HEADER = "Aecaro-Signer-Certificate"
_ALGORITHM = ec.ECDSA(hashes.SHA256())


class UntrustedEventError(Exception):
    """Raised when an event's signature or its signer's certificate does not verify."""


class EventSigner:
    """Signs event payloads as one service."""

    def __init__(self, credentials: ServiceCredentials):
        key = serialization.load_pem_private_key(credentials.key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("service keys must be ECDSA keys to sign audit events")
        certificate = x509.load_pem_x509_certificate(credentials.cert_pem)
        self._key = key
        self._certificate = base64.b64encode(
            certificate.public_bytes(serialization.Encoding.DER)
        ).decode("ascii")

    def __repr__(self) -> str:
        return "EventSigner(<key hidden>)"

    def headers_for(self, payload: bytes) -> dict[str, str]:
        signature = self._key.sign(payload, _ALGORITHM)
        return {
            SIGNATURE_HEADER: base64.b64encode(signature).decode("ascii"),
            CERTIFICATE_HEADER: self._certificate,
        }


class EventVerifier:
    """Finds which service signed an event, trusting only the platform CA."""

    def __init__(self, ca_pem: bytes):
        self._authorities = x509.load_pem_x509_certificates(ca_pem)

    def _check_issued_by_platform_ca(self, certificate: x509.Certificate, now: datetime) -> None:
        # Service certificates come straight from the platform CA (no
        # intermediates), so "issued by one of our CAs, valid now, meant for
        # clients" is the whole path check.
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise UntrustedEventError
        usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.CLIENT_AUTH not in usage:
            raise UntrustedEventError
        for authority in self._authorities:
            try:
                certificate.verify_directly_issued_by(authority)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return
        raise UntrustedEventError

    def signer_of(
        self, payload: bytes, headers: dict[str, str] | None, *, signed_at: datetime
    ) -> str:
        """The signing service's name; raises UntrustedEventError otherwise.

        ``signed_at`` is when the event was signed at the latest, as vouched for
        by someone other than the signer (JetStream's time of storing it): the
        certificate must have been valid then. Checking against the time of
        reading instead would refuse every event that waited in the stream
        past its signer's certificate, an outage of the audit database included.
        """
        headers = headers or {}
        try:
            certificate = x509.load_der_x509_certificate(
                base64.b64decode(headers[CERTIFICATE_HEADER], validate=True)
            )
            signature = base64.b64decode(headers[SIGNATURE_HEADER], validate=True)
            self._check_issued_by_platform_ca(certificate, signed_at)
            public_key = certificate.public_key()
            if not isinstance(public_key, ec.EllipticCurvePublicKey):
                raise UntrustedEventError
            public_key.verify(signature, payload, _ALGORITHM)
            names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        except Exception:
            # Anyone who can publish on NATS controls these bytes, and a crafted
            # certificate can make the parser raise almost anything (a duplicate
            # extension, say). Every such failure is the same untrusted event.
            raise UntrustedEventError from None
        if len(names) != 1 or names[0].value not in SERVICE_NAMES:
            raise UntrustedEventError
        return names[0].value
