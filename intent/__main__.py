import sys

from intent.cli import main

sys.exit(main())
