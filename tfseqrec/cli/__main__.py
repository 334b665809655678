import sys

from tfseqrec.cli.app import main

sys.exit(main())
