"""The package's version, written once: in pyproject.toml, read here from the installed
package's metadata."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("roundtable")
except PackageNotFoundError:  # a source tree run without installing it
    __version__ = "0+unknown"
