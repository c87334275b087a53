"""Provisioning (issue 17, docs/provisioning.md): clients for Cloudflare DNS, Stape and Google Tag Manager,
and the resumable saga that creates a seller's first-party tracking domain, server container and web
container. Pure rules: ``trackai.core.provisioning_plan``."""
