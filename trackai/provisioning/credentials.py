"""Platform credentials (Cloudflare token, Stape key, GTM service account) through the secrets backend:
a Fernet token (``gAAAA…``) is decrypted with TRACKAI_SECRET_KEY; with TRACKAI_SECRETS_BACKEND=aws the value
is a Secrets Manager id; plain text is accepted only in development."""

from __future__ import annotations

from trackai import secrets
from trackai.provisioning.errors import ConfigurationMissing
from trackai.settings import Settings


def resolve(value: str, variable: str, settings: Settings) -> str:
    if not value:
        raise ConfigurationMissing(f"{variable} is not set")
    if value.startswith("gAAAA"):
        return secrets.reveal(value, None, settings)
    if settings.secrets_backend == "aws":
        return secrets.reveal(None, value, settings)
    if settings.env != "development":
        raise ConfigurationMissing(
            f"{variable} must be a Fernet token (trackai.secrets.encrypt) or a Secrets Manager id outside development"
        )
    return value
