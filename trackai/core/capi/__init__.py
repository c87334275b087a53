"""Pure Meta Conversions API logic: payload building, pre-validation and error classification.

Nothing here does I/O; ``trackai.dispatch`` (sender) and ``trackai.capi_mock`` (local fake) share it.
"""
