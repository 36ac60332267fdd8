import sys

from fadtq.cli import main

sys.exit(main())
