"""``python -m regwire``: the same as the ``regwire`` command."""

import sys

from .cli import main

sys.exit(main())
