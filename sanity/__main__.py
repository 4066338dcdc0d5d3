"""`python -m sanity` is the `sanity` command (used to run feature jobs in a child process)."""

from sanity.cli import main

main()
