"""Running a child process: output tee'd, stdin fed, signals relayed, the terminal restored.

The bottom layer under tools, loop and recover: it imports only the standard library.
"""
