import sys

from numpy_bert.cli import main

sys.exit(main())
