"""`manage.py compose A B [C...] -o out.mp4`: the composition job from a shell, with a progress bar."""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from videos.exceptions import MontageError
from videos.models import ProcessingTask, Video
from videos.services.compositions import ENGINES, composition_start
from videos.services.tasks import task_cancel
from videos.services.videos import video_import
from videos.taskmanager.manager import get_task_manager

POLL_SECONDS = 0.2
BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Compose two or more videos (file paths, imported as the user's videos, or video ids) into one file. "
        "Runs the same job as the API through an in-process TaskManager; Ctrl-C cancels it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("inputs", nargs="+", help="File paths or video ids, in order (at least 2).")
        parser.add_argument("-o", "--output", required=True, help="Where to write the composed file.")
        parser.add_argument("--engine", choices=ENGINES, default="ffmpeg")
        parser.add_argument("--user", help="Owner of the imported and composed videos (default: first superuser).")
        parser.add_argument("--title", default="", help="Title of the composed video.")
        parser.add_argument("--size", help="Output size WxH (default: the first clip's).")

    def handle(self, *args: Any, **opts: Any) -> None:
        output = Path(opts["output"]).expanduser().resolve()
        if not output.parent.is_dir():
            raise CommandError(f"The output folder {output.parent} does not exist.")
        if len(opts["inputs"]) < 2:
            raise CommandError("Give at least 2 inputs to compose.")
        if opts["verbosity"] < 2:  # the bar is the report; task/storage INFO lines would tear it apart
            logging.getLogger("montage").setLevel(logging.WARNING)
        user = self._user(opts["user"])
        size = _parse_size(opts["size"]) if opts["size"] else None
        manager = get_task_manager().start()
        try:
            ids = [self._video_id(user, item) for item in opts["inputs"]]
            try:
                task = composition_start(owner=user, videos=ids, title=opts["title"], engine=opts["engine"], size=size)
            except MontageError as exc:
                raise CommandError(exc.detail) from None
            self.stdout.write(f"Task {task.pk}: composing {len(ids)} videos with {opts['engine']}.")
            task = self._follow(task)
            if task.status != ProcessingTask.Status.COMPLETED:
                raise CommandError(f"Composition {task.status}: {task.error_message or 'no output'}")
            self._copy_out(task, output)
        finally:
            manager.stop()

    # Inputs -----------------------------------------------------------------------------------
    def _user(self, username: str | None) -> User:
        users = get_user_model().objects
        if username:
            try:
                return users.get(username=username)
            except users.model.DoesNotExist:
                raise CommandError(f"No user named {username!r}.") from None
        admin = users.filter(is_superuser=True).order_by("pk").first()
        if admin is not None:
            return admin
        user, created = users.get_or_create(username="cli")
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        return user

    def _video_id(self, user: User, item: str) -> str:
        path = Path(item).expanduser()
        if path.is_file():
            try:
                video = video_import(owner=user, path=path)
            except MontageError as exc:
                raise CommandError(f"{item}: {exc.detail}") from None
            self.stdout.write(f"Imported {item} as video {video.pk} ({video.duration_s or 0:.2f} s).")
            return str(video.pk)
        try:
            video_id = uuid.UUID(item)
        except ValueError:
            raise CommandError(f"{item}: neither a file nor a video id.") from None
        if not Video.objects.filter(pk=video_id, owner=user).exists():
            raise CommandError(f"{item}: no such video of user {user.get_username()!r}.")
        return str(video_id)

    # Progress ---------------------------------------------------------------------------------
    def _follow(self, task: ProcessingTask) -> ProcessingTask:
        """Draw progress until the task finishes; Ctrl-C cancels it and waits for it to stop."""
        bar = ProgressBar(self.stdout, tty=self.stdout.isatty())
        try:
            while True:
                task.refresh_from_db()
                bar.draw(task)
                if task.is_finished:
                    bar.close()
                    return task
                time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            bar.close()
            self.stdout.write("Cancelling...")
            task = task_cancel(task=task, wait=5.0)
            raise CommandError(f"Interrupted: the {task.kind} task is {task.status}.", returncode=130) from None

    def _copy_out(self, task: ProcessingTask, output: Path) -> None:
        result = task.result or {}
        video = Video.objects.get(pk=result["video_id"])
        partial = output.with_name(f".{output.name}.part")
        try:
            with video.file.open("rb") as src, open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
            os.replace(partial, output)
        finally:
            partial.unlink(missing_ok=True)
        elapsed = (task.finished_at - task.started_at).total_seconds() if task.started_at and task.finished_at else 0
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {output} ({result.get('duration_s') or 0:.2f} s, {result.get('width')}x{result.get('height')}, "
                f"{result.get('size_bytes', 0) / 1e6:.1f} MB, {result.get('mode')}) in {elapsed:.1f} s; "
                f"video {video.pk}."
            )
        )


class ProgressBar:
    """One redrawn line on a terminal; a line per stage or 10% step otherwise (logs, pipes)."""

    def __init__(self, out: Any, *, tty: bool) -> None:
        self.out = out
        self.tty = tty
        self._last: tuple[str, int] | None = None

    def draw(self, task: ProcessingTask) -> None:
        progress = 100.0 if task.status == ProcessingTask.Status.COMPLETED else min(task.progress, 99.9)
        filled = int(BAR_WIDTH * progress / 100)
        eta = f" ETA {_clock(task.eta_seconds)}" if task.eta_seconds is not None and task.is_active else ""
        line = f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {progress:5.1f}% {task.stage}{eta}"
        if self.tty:
            self.out.write(f"\r{line:<79}", ending="")
            self.out.flush()
            return
        key = (task.stage, int(progress // 10))
        if key != self._last:
            self._last = key
            self.out.write(line)

    def close(self) -> None:
        if self.tty:
            self.out.write("")


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise CommandError(f"--size {text!r}: use WxH, e.g. 1280x720.") from None
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise CommandError("--size: width and height must be positive and even.")
    return width, height
