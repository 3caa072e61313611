"""`python -m effrestore` runs the command-line interface."""

from effrestore.cli.main import main

main()
