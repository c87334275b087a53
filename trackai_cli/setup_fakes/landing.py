"""Fake landing pages on 127.0.0.1 for probe_landing_url and check_pixel_presence.

``LandingFake(pixel_id, tenant_id, snippet_base)`` serves:

* ``/good`` — Meta's base code with ``fbq('init', pixel_id)`` and this tenant's Track AI snippet;
* ``/redirect-keep`` → 301 → ``/good`` with the query string kept; ``/redirect-drop`` → 302 → ``/good``
  without it (fbclid and UTMs lost; the classic cause of lost attribution);
* ``/no-pixel``, ``/wrong-pixel`` (another pixel id), ``/noscript-only``, ``/duplicate`` (init twice),
  ``/other-tenant`` (another tenant's snippet), ``/no-snippet``, ``/missing`` (404), ``/loop`` (redirects to itself).

``LandingFake(..., certificate=expired_certificate(dir))`` serves the same over https with that certificate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import uuid
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from trackai_cli.loopback_server import LoopbackServer

BASE_CODE = """<script>
!function(f,b,e,v,n,t,s){{if(f.fbq)return;n=f.fbq=function(){{n.callMethod?
n.callMethod.apply(n,arguments):n.queue.push(arguments)}};if(!f._fbq)f._fbq=n;n.push=n;n.loaded=!0;
n.version='2.0';n.queue=[];t=b.createElement(e);t.async=!0;t.src=v;s=b.getElementsByTagName(e)[0];
s.parentNode.insertBefore(t,s)}}(window, document,'script','https://connect.facebook.net/en_US/fbevents.js');
fbq('init', '{pixel}');
fbq('track', 'PageView');
</script>"""
NOSCRIPT = (
    '<noscript><img height="1" width="1" style="display:none" '
    'src="https://www.facebook.com/tr?id={pixel}&ev=PageView&noscript=1"/></noscript>'
)


def page(
    *, pixels: list[str], snippet_tenant: str | None, snippet_base: str, noscript: str | None = None
) -> str:
    head = "\n".join(BASE_CODE.format(pixel=p) for p in pixels)
    if noscript:
        head += "\n" + NOSCRIPT.format(pixel=noscript)
    body = "<h1>Curso X</h1><a href='https://pay.hotmart.com/X123'>Comprar</a>"
    if snippet_tenant:
        body += (
            f'\n<script async src="{snippet_base.rstrip("/")}/api/v1/snippet/{snippet_tenant}.js"></script>'
        )
    return f"<!doctype html><html lang='pt-BR'><head><title>Oferta</title>{head}</head><body>{body}</body></html>"


def create_app(pixel_id: str, tenant_id: str, snippet_base: str) -> Starlette:
    other_pixel = "999" + pixel_id[3:] if not pixel_id.startswith("999") else "111" + pixel_id[3:]
    pages = {
        "good": page(
            pixels=[pixel_id], snippet_tenant=tenant_id, snippet_base=snippet_base, noscript=pixel_id
        ),
        "no-pixel": page(pixels=[], snippet_tenant=tenant_id, snippet_base=snippet_base),
        "wrong-pixel": page(pixels=[other_pixel], snippet_tenant=tenant_id, snippet_base=snippet_base),
        "noscript-only": page(
            pixels=[], snippet_tenant=tenant_id, snippet_base=snippet_base, noscript=pixel_id
        ),
        "duplicate": page(pixels=[pixel_id, pixel_id], snippet_tenant=tenant_id, snippet_base=snippet_base),
        "foreign": page(pixels=[pixel_id, other_pixel], snippet_tenant=tenant_id, snippet_base=snippet_base),
        "no-snippet": page(pixels=[pixel_id], snippet_tenant=None, snippet_base=snippet_base),
        "other-tenant": page(pixels=[pixel_id], snippet_tenant=str(uuid.uuid4()), snippet_base=snippet_base),
    }

    async def serve(request: Request) -> Response:
        name = request.path_params["name"]
        query = request.url.query
        if name == "redirect-keep":
            return RedirectResponse("/good" + (f"?{query}" if query else ""), status_code=301)
        if name == "redirect-drop":
            return RedirectResponse("/good", status_code=302)
        if name == "redirect-chain":  # keeps it once, drops it on the second hop
            return RedirectResponse("/redirect-drop" + (f"?{query}" if query else ""), status_code=301)
        if name == "loop":
            return RedirectResponse("/loop" + (f"?{query}" if query else ""), status_code=302)
        if name in pages:
            return HTMLResponse(pages[name])
        return HTMLResponse("<h1>404</h1>", status_code=404)

    return Starlette(routes=[Route("/{name}", serve)])


class LandingFake(LoopbackServer):
    name = "landing-fake"

    def __init__(
        self,
        pixel_id: str,
        tenant_id: str,
        snippet_base: str = "http://127.0.0.1:8000",
        *,
        certificate: tuple[Path, Path] | None = None,
        port: int | None = None,
    ) -> None:
        super().__init__(create_app(pixel_id, tenant_id, snippet_base), port)
        if certificate is not None:
            self._server.config.ssl_certfile = str(certificate[0])
            self._server.config.ssl_keyfile = str(certificate[1])
            self.url = f"https://127.0.0.1:{self.port}"


def expired_certificate(directory: Path, *, days_ago: int = 3) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost that expired ``days_ago`` days ago (cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=90))
        .not_valid_after(now - dt.timedelta(days=days_ago))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "expired.pem", directory / "expired.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path
