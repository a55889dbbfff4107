"""grutool's version, apart from the package so that any module can import it cheaply."""

__version__ = "0.1.0"
