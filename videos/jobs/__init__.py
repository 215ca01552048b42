"""Job kinds: importing this package registers every kind with the task registry."""
from videos.jobs import composition  # noqa
