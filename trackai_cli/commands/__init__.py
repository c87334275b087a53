"""CLI command modules: each has ``register(subparsers)``; handlers import what they need lazily."""
