"""``python -m core.cli``: the same as the ``reescreen`` command."""
import sys

from core.cli import main

sys.exit(main())
