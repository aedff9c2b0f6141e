"""vitcli: visual instruction tuning from the command line. Importing this package must stay cheap."""

__version__ = "0.2.0.dev0"
