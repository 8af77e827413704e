"""Daraja's SecurityCredential: the initiator password encrypted with Safaricom's certificate."""
import base64

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15


def security_credential_from(password: str, certificate_pem: bytes) -> str:
    """RSA PKCS#1 v1.5 (not OAEP), base64. The output is random: every call gives a new valid value."""
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    ciphertext = certificate.public_key().encrypt(password.encode("utf-8"), PKCS1v15())
    return base64.b64encode(ciphertext).decode("ascii")
