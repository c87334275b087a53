"""Loopback fakes of the three provisioning APIs (Cloudflare v4, Stape v2, Google Tag Manager v2 and
Google's OAuth token endpoint) following their documented request and response shapes, with fault
injection (429 + Retry-After, 5xx, slow answers for timeouts, a Stape container stuck in "creating").
``ProvisionFakes`` starts all three on 127.0.0.1 (tests, the demo, ``trackai provision fakes``)."""
