from __future__ import annotations

import sys

from workers.cli import main

# Guarded, unlike workers/__main__.py: importing every module of the package (as the install test does) must
# not run the command.
if __name__ == "__main__":
    sys.exit(main())
