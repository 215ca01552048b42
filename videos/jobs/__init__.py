"""Job kinds: importing this package registers every kind with the task registry."""
from videos.jobs import composition  # noqa
from videos.jobs import transcription  # noqa
from videos.jobs import reprocess  # noqa
from videos.jobs import srt_media  # noqa
