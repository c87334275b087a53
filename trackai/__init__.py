"""Track AI shared library: settings, database access, migrations, secrets and the pure cores."""

from importlib.metadata import PackageNotFoundError, version

try:  # the one version source is pyproject.toml ([project] version); CHANGELOG.md records each release
    __version__ = version("trackai")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0+unknown"
