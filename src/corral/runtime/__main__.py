"""`python -m corral.runtime`: the process the sandbox starts."""

from corral.runtime.main import main

raise SystemExit(main())
