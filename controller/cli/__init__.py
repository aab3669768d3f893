"""The command line: every `chargectl` command and its output, on one shared set of options.

`app` holds the click group (the console script's entry point); each command's body lives in
a module of its own and is imported only when that command runs, so `chargectl validate` in
CI pays for neither the OCPP stack nor the database driver.
"""
