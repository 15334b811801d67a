"""Weekly digests: each group's schedule, the record of every week's run, and what a week held.

The schedule rows are the source of truth: the scheduler is rebuilt from them at start-up. A run row, unique
per (group, week), is written before the first message and completed with the message ids after, so a week
gets exactly one digest across restarts and crashes.
"""
