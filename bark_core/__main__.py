"""`python -m bark_core`: the `bark-studio` command line."""

from .cli import main

raise SystemExit(main())
