"""Usage: python -m reports [RESULT.json ...] [-o reports/out/index.html] [--baseline OTHER.json|RUN_ID]
                         [--fail-on-regression]

See ``reports.build`` for all options.
"""

import sys

from reports.build import main

sys.exit(main())
