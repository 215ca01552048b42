"""Page test fixtures: the fake OpenAI server (for transcriptions started from the browser)."""

from videos.tests.fake_openai import fake_openai  # noqa: F401 - the fixture
