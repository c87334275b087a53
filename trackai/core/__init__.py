"""Pure functions only: no I/O, no settings, no database. Everything here is unit-testable on values."""
