"""`manage.py compose A B[@START-END] ... -o out.mp4`: the composition job from a shell, with the API's options
(trims, --size, --subtitles, --engine) and a tqdm progress bar on stderr; Ctrl-C cancels."""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from videos.exceptions import MontageError
from videos.media.plan import SUBTITLE_MODES
from videos.models import ProcessingTask, Video
from videos.services.compositions import ENGINES, composition_start
from videos.services.tasks import task_cancel
from videos.services.videos import video_import
from videos.taskmanager.backends import start_local_manager

POLL_SECONDS = 0.2
BAR_FORMAT = "{desc}: {percentage:5.1f}% |{bar}| {elapsed}<{remaining}"
TRIM_RE = re.compile(r"^(?P<input>.+)@(?P<start>\d+(?:\.\d+)?)?-(?P<end>\d+(?:\.\d+)?)?$")


class Command(BaseCommand):
    help = (
        "Compose two or more videos (file paths, imported into the user's library, or video ids) into one file. "
        "Trim an input with PATH@START-END (seconds; either side may be left out: clip.mp4@2.5-, id@-10). "
        "Runs the same job as the API through an in-process TaskManager; progress on stderr; Ctrl-C cancels."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "inputs", nargs="+", help="File paths or video ids, in order (at least 2), each [@START-END]."
        )
        parser.add_argument("-o", "--output", required=True, help="Where to write the composed file.")
        parser.add_argument("--engine", choices=ENGINES, default="ffmpeg")
        parser.add_argument(
            "--user",
            help="Whose library the imported inputs and the composed video go to, and whose video ids are accepted "
            "(default: the first superuser, else a 'cli' user).",
        )
        parser.add_argument("--title", default="", help="Title of the composed video.")
        parser.add_argument("--size", default="first", help="first (default), largest, or WxH such as 1280x720.")
        parser.add_argument(
            "--subtitles", choices=SUBTITLE_MODES, default="none", help="Carry the inputs' transcripts."
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        output = Path(opts["output"]).expanduser().resolve()
        if not output.parent.is_dir():
            raise CommandError(f"The output folder {output.parent} does not exist.")
        if len(opts["inputs"]) < 2:
            raise CommandError("Give at least 2 inputs to compose.")
        if opts["verbosity"] < 2:  # the bar is the report; task/storage INFO lines would tear it apart
            logging.getLogger("montage").setLevel(logging.WARNING)
        user = self._user(opts["user"])
        manager = start_local_manager()
        try:
            items = [self._item(user, item) for item in opts["inputs"]]
            try:
                task = composition_start(
                    owner=user, videos=items, title=opts["title"], engine=opts["engine"], size=opts["size"],
                    subtitles=opts["subtitles"],
                )  # fmt: skip
            except MontageError as exc:
                raise CommandError(exc.detail) from None
            self.stdout.write(f"Task {task.pk}: composing {len(items)} videos with {opts['engine']}.")
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

    def _item(self, user: User, item: str) -> str | dict[str, Any]:
        """A video id, or {"video", "start"?, "end"?} for ITEM@START-END (a file that exists is taken as it is)."""
        match = None if Path(item).expanduser().is_file() else TRIM_RE.match(item)
        if match is None:
            return self._video_id(user, item)
        trimmed: dict[str, Any] = {"video": self._video_id(user, match.group("input"))}
        for key in ("start", "end"):
            if match.group(key) is not None:
                trimmed[key] = float(match.group(key))
        return trimmed

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
        """A tqdm bar on stderr (stage, percent, ETA) until the task finishes; Ctrl-C cancels it and waits."""
        bar = tqdm(total=100, unit="%", file=self.stderr._out, desc=task.stage, bar_format=BAR_FORMAT)
        try:
            while True:
                task.refresh_from_db()
                _advance(bar, task)
                if task.is_finished:
                    return task
                time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            bar.close()
            self.stderr.write("Cancelling...")
            task = task_cancel(task=task, wait=5.0)
            raise CommandError(f"Interrupted: the {task.kind} task is {task.status}.", returncode=130) from None
        finally:
            bar.close()

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
        size = f"{result.get('width')}x{result.get('height')}, {result.get('size_bytes', 0) / 1e6:.1f} MB"
        how = result.get("plan") or result.get("mode")
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {output} ({result.get('duration_s') or 0:.2f} s, {size}; {how}) in {elapsed:.1f} s; "
                f"video {video.pk}."
            )
        )


def _advance(bar: tqdm, task: ProcessingTask) -> None:
    """Move the bar to the task's progress (never back) and show its stage (e.g. concatenate:smart)."""
    progress = task.shown_progress
    bar.set_description_str(task.stage, refresh=False)
    if progress > bar.n:
        bar.update(round(progress - bar.n, 1))
    else:
        bar.refresh()
