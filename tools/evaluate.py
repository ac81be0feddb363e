#!/usr/bin/env python
"""`kerasdenoise-evaluate` from a checkout: the code is kerasdenoise/cli/evaluate.py."""
import sys

from kerasdenoise.cli.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
