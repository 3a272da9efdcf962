"""`python -m asyncgen`."""

from asyncgen.cli import main

main()
