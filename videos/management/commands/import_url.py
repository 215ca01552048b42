"""`manage.py import_url URL [--user] [--no-transcribe]`: the import job from a shell, with a progress bar."""

from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import CommandError, CommandParser

from videos.exceptions import MontageError
from videos.management.commands.compose import Command as ComposeCommand
from videos.models import ProcessingTask
from videos.services.imports import import_start
from videos.taskmanager.backends import start_local_manager


class Command(ComposeCommand):  # its user lookup and its progress bar (Ctrl-C cancels)
    help = (
        "Import a video from a URL (a media file, an HLS playlist or a page yt-dlp understands) as one of the "
        "user's videos, and transcribe it unless told not to. Runs the same task as the API; Ctrl-C cancels it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("url")
        parser.add_argument("--user", help="Owner of the video (default: the first superuser).")
        parser.add_argument("--title", default="", help="Title (default: the one the page or file gives).")
        parser.add_argument("--no-transcribe", action="store_true", help="Store the file only.")
        parser.add_argument("--language", default=None, help="Transcript language: auto (default) or an ISO code.")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["verbosity"] < 2:  # the bar is the report
            logging.getLogger("montage").setLevel(logging.WARNING)
        user = self._user(opts["user"])
        manager = start_local_manager()
        try:
            try:
                task = import_start(
                    owner=user,
                    url=opts["url"],
                    title=opts["title"],
                    transcribe=not opts["no_transcribe"],
                    language=opts["language"],
                )
            except MontageError as exc:
                raise CommandError(exc.detail) from None
            self.stdout.write(f"Task {task.pk}: importing {task.args['url']} as video {task.video_id}.")
            task = self._follow(task)
        finally:
            manager.stop()
        if task.status != ProcessingTask.Status.COMPLETED:
            raise CommandError(f"Import {task.status}: {task.error_message or 'no file'}")
        result = task.result or {}
        transcript = f", {result['segments']} subtitle segments" if result.get("transcribed") else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {result.get('title')!r}: video {result.get('video_id')} "
                f"({result.get('duration_s') or 0:.2f} s, {result.get('size_bytes', 0) / 1e6:.1f} MB){transcript}."
            )
        )
