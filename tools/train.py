#!/usr/bin/env python
"""`kerasdenoise-train` from a checkout: the code is kerasdenoise/cli/train.py."""
import sys

from kerasdenoise.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
