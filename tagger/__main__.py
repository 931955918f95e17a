"""`python -m tagger` is the `tagger` command."""

import sys

from tagger.cli import main

sys.exit(main())
