#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    from config.no_database.base import DatabaseNotConfigured

    try:
        execute_from_command_line(sys.argv)
    except DatabaseNotConfigured as error:
        # One line, not a traceback: the reader needs to know what to start, not where it failed.
        sys.exit(f"error: {error}")
