import sys

from trackai_cli.cli import main

sys.exit(main())
