#!/usr/bin/env python
"""`kerasdenoise-export` from a checkout: the code is kerasdenoise/cli/export.py."""
import sys

from kerasdenoise.cli.export import main

if __name__ == "__main__":
    sys.exit(main())
