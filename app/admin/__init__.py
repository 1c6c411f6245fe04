"""Operators' commands: reprocess, reconcile, stats, erase-user (`imagepipe ...`)."""
