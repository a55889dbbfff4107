"""`python -m grutool …` runs the command line, like the `grutool` script."""

from .cli import main

if __name__ == "__main__":
    main()
