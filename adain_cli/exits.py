"""The exit statuses of `adain`, in one place (README's exit status table and `adain --help` list them)."""

OK = 0
FAILED = 1  # something the job asked for was not written (each failure named on stderr)
USAGE = 2  # a usage error, before any work or download
INTERNAL = 70  # a bug in adain (sysexits' EX_SOFTWARE)
SIGNALLED = 128  # + the signal number: 130 Ctrl-C, 129 SIGHUP, 141 a closed pipe, 143 SIGTERM (signals.py)
