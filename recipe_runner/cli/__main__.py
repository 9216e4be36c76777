"""`python -m recipe_runner.cli`: the same entry point as the `recipe-runner` console script."""

import sys

from recipe_runner.cli import main

sys.exit(main())
