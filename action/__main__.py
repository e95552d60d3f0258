"""`python -m action`: the step that action.yml runs."""

import sys

from action.main import main

sys.exit(main())
