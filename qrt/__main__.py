"""``python -m qrt`` is the ``qrt`` command."""

import sys

from qrt.cli.main import main

sys.exit(main())
