"""Loopback fakes for the setup assistant's tests and demo (issue 16): landing pages (good, a redirect that
drops fbclid, missing pixel, wrong pixel id, noscript-only, duplicate, TLS with an expired self-signed
certificate) and good/bad gateway deliveries."""
