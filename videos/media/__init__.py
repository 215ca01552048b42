"""Everything that talks to ffmpeg, ffprobe and MoviePy; no Django models, no HTTP."""
