#!/usr/bin/env python
"""`kerasdenoise-denoise` from a checkout: the code is kerasdenoise/cli/denoise.py."""
import sys

from kerasdenoise.cli.denoise import main

if __name__ == "__main__":
    sys.exit(main())
