"""`python -m grutool …` runs the command line, like the `grutool` script."""

from .cli import main

main()
