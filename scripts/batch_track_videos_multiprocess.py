#!/usr/bin/env python3
"""Track text-prompted objects in a list of videos, one worker process per GPU slot. See --help."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lang_sam_tracker.cli.parser import main_multiprocess  # noqa: E402

if __name__ == "__main__":
    sys.exit(main_multiprocess())
