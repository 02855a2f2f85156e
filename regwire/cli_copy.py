"""Where ``regwire copy`` and ``regwire sync`` lived before the command became a package.

They are in `regwire.cli.copy` now; these names stay importable from here for code written
against the old module (the import runs one way: this module imports the package's, never the
reverse).
"""

from .cli.copy import Meter, add_copy_parser, add_sync_parser, copy_command, sync_command

__all__ = ["Meter", "add_copy_parser", "add_sync_parser", "copy_command", "sync_command"]
