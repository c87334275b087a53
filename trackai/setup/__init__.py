"""The setup assistant (issue 16, docs/setup-assistant.md): six setup tools, their transcript, the support
case after three consecutive failures of a step, and the gate provisioning waits for (``gates``)."""
