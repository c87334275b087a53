"""Pure Meta Conversions API logic: payload building, pre-validation and error classification.

Nothing here does I/O; ``trackai.dispatch`` (sender) and ``trackai_cli.capi_mock`` (local fake) share it.
"""
