"""Pure-Python engines: subtitles (SRT/VTT), transcription and paragraphing. No models, no HTTP views."""
