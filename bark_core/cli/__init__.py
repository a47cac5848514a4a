"""The `bark-studio` command line (also `python -m bark_core`): its options, commands, batches and parser;
`main.main` is the entry point."""
