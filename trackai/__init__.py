"""Track AI shared library: settings, database access, migrations, secrets and the pure cores."""
