"""`python -m amazon_sync_cli`: the same commands as the `amazon-sync` console script."""

import sys

from amazon_sync_cli.main import main

sys.exit(main())
