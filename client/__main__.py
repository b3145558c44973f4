"""``python -m miap.client`` runs the ``miap-client`` command line."""

import sys

from miap.client.cli import main

sys.exit(main())
