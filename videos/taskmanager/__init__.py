"""The engine room: runs registered job kinds as tracked, cancellable, restart-proof tasks.

Knows nothing of videos: it reads and writes ProcessingTask/SubTask rows and calls job functions.
"""
