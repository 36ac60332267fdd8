#!/usr/bin/env python
"""Build a tiny random Qwen2.5-VL model folder offline: `python scripts/make_tiny_qwen2_5_vl.py OUT_DIR [--force]`."""

import sys

from fadtq.offline.tiny_qwen2_5_vl import main

if __name__ == "__main__":
    sys.exit(main())
