"""``python -m cofferos`` is ``coffersim``."""

import sys

from cofferos.cli import main

sys.exit(main())
