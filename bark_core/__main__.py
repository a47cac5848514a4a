"""`python -m bark_core`: the `bark-studio` command line."""

from .cli.main import main

raise SystemExit(main())
