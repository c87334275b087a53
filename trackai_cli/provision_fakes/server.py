"""The three provisioning fakes on 127.0.0.1, and the settings that point Track AI at them."""

from __future__ import annotations

import json
import secrets
from typing import Any, Self

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from trackai.net import free_port
from trackai_cli.loopback_server import LoopbackServer
from trackai_cli.provision_fakes.cloudflare import CloudflareFake
from trackai_cli.provision_fakes.gtm import GtmFake
from trackai_cli.provision_fakes.stape import StapeFake

BASE_DOMAIN = "sellers.example.com"
GTM_ACCOUNT = "6001234567"


class ProvisionFakes:
    def __init__(self, *, base_domain: str = BASE_DOMAIN, stape_activate_after: float = 0.2) -> None:
        self.base_domain = base_domain
        self.cf_token = "cf-" + secrets.token_hex(12)
        self.stape_key = "stape-" + secrets.token_hex(12)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        gtm_port = free_port()
        self.gtm_url = f"http://127.0.0.1:{gtm_port}"
        self.service_account = {
            "type": "service_account",
            "project_id": "trackai-fake",
            "private_key_id": secrets.token_hex(20),
            "private_key": key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode(),
            "client_email": "provisioner@trackai-fake.iam.gserviceaccount.com",
            "token_uri": f"{self.gtm_url}/token",
        }
        # example.com is the zone; the base domain sits under it (the zone lookup walks up to it)
        self.cloudflare = CloudflareFake(self.cf_token, ["other-zone.test", base_domain.split(".", 1)[-1]])
        self.stape = StapeFake(self.stape_key, activate_after=stape_activate_after)
        self.gtm = GtmFake(
            key.public_key(), self.service_account["client_email"], self.service_account["token_uri"]
        )
        self._servers = [
            LoopbackServer(self.cloudflare.app),
            LoopbackServer(self.stape.app),
            LoopbackServer(self.gtm.app, port=gtm_port),
        ]

    def start(self) -> Self:
        for server in self._servers:
            server.name = "provision-fake"
            server.start()
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def provision_settings(self, **overrides: Any) -> dict[str, Any]:
        """``Settings(provision=…)`` values that point every client at the fakes."""
        cf, stape, _ = self._servers
        values = {
            "cf_api_url": f"{cf.url}/client/v4",
            "cf_api_token": self.cf_token,
            "cf_base_domain": self.base_domain,
            "stape_api_url": f"{stape.url}/api/v2",
            "stape_api_key": self.stape_key,
            "gtm_api_url": f"{self.gtm_url}/tagmanager/v2",
            "gtm_account_id": GTM_ACCOUNT,
            "gtm_service_account": json.dumps(self.service_account),
            "stape_deadline_seconds": 5.0,
            "stape_poll_seconds": 0.1,
            "http_timeout_seconds": 2.0,
            "max_retries": 3,
            "retry_max_wait_seconds": 5.0,
        }
        return values | overrides

    def environment(self) -> dict[str, str]:
        """The same as TRACKAI_PROVISION_* environment variables (a Dagster run, `trackai provision`)."""
        return {f"TRACKAI_PROVISION_{k.upper()}": str(v) for k, v in self.provision_settings().items()}
