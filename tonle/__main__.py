"""`python -m tonle` is the `tonle` command."""

import sys

from tonle.interfaces.cli import main

sys.exit(main())
