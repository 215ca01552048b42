/* Montage pages: shared helpers (API calls with the session's CSRF token, progress painting). */
(function () {
  "use strict";

  const ACTIVE = ["pending", "processing"];

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  /** Call the API (JSON or FormData body) with the session cookie; resolves to {ok, status, data} (never throws on 4xx/5xx). */
  async function api(method, url, body) {
    const headers = { Accept: "application/json", "X-CSRFToken": csrfToken() };
    const init = { method, headers, credentials: "same-origin" };
    if (body instanceof FormData) {
      init.body = body; // multipart: the browser writes the boundary
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return { ok: response.ok, status: response.status, data };
  }

  /** The API's human sentence for an error body, or a fallback naming the status. */
  function errorText(data, status) {
    if (data && data.detail) return data.detail;
    return status ? `The server answered ${status}.` : "The server could not be reached.";
  }

  // What a person can do about a refused upload, by the API's error code; the API's own detail stays folded away.
  const HUMAN = {
    unsupported_media: "Montage can't read this file as video or audio. Check that it plays on your computer, or export it again (MP4 or WAV work everywhere).",
    file_too_large: "The file is larger than this server accepts.",
    insufficient_storage: "The server has no room left for this file. Try again later, or ask whoever runs Montage to free some space.",
    request_too_large: "The file is larger than this server accepts.",
  };

  /** A human sentence for an error answer, with the API's detail in a folded <details> when it says more. */
  function humanError(data, status) {
    const detail = errorText(data, status);
    const sentence = data && HUMAN[data.code];
    if (!sentence) return document.createTextNode(detail);
    const wrap = document.createElement("span");
    wrap.append(sentence);
    const more = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = "Details";
    const text = document.createElement("span");
    text.className = "detail";
    text.textContent = detail;
    more.append(summary, text);
    wrap.append(more);
    return wrap;
  }

  /**
   * Delete a video after the user confirms; resolves true once gone (or already gone). A refusal is written
   * into `errorEl`: the API's sentence, and for 409 task_conflict a link to the task in the way.
   */
  async function deleteVideo(videoId, title, button, errorEl) {
    if (!window.confirm(`Delete “${title}” and its files? This cannot be undone.`)) return false;
    errorEl.textContent = "";
    button.disabled = true;
    const { ok, status, data } = await api("DELETE", `/api/v1/videos/${videoId}/`);
    button.disabled = false;
    if (ok || status === 404) return true;
    errorEl.textContent = errorText(data, status);
    if (data && data.task_id) {
      const link = document.createElement("a");
      link.href = `/tasks/${data.task_id}/`;
      link.textContent = " View the task.";
      errorEl.append(link);
    }
    return false;
  }

  function fmtEta(seconds) {
    if (seconds === null || seconds === undefined) return "";
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return `about ${s} s left`;
    const m = Math.floor(s / 60);
    if (m < 60) return `about ${m} min ${String(s % 60).padStart(2, "0")} s left`;
    return `about ${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min left`;
  }

  function pct(value) {
    return `${Number(value || 0).toFixed(1)}%`;
  }

  /** Paint one [data-bar] element. */
  function paintBar(bar, value, status) {
    if (!bar) return;
    const v = Math.max(0, Math.min(100, Number(value || 0)));
    bar.setAttribute("aria-valuenow", v.toFixed(1));
    bar.querySelector(".fill").style.width = `${v}%`;
    if (status) bar.className = `bar status-${status}`;
  }

  function setField(root, name, text) {
    const el = root.querySelector(`[data-field="${name}"]`);
    if (el && el.textContent !== text) el.textContent = text;
    return el;
  }

  function setStatus(el, status) {
    if (!el) return;
    el.textContent = status;
    el.className = el.className.replace(/\bstatus-\S+/g, "").trim() + ` status-${status}`;
  }

  /** Paint a task's TaskProgress into a row or page whose children carry data-field/data-bar/data-subtask. */
  function paintTask(root, task) {
    const active = ACTIVE.includes(task.status);
    root.dataset.status = task.status;
    paintBar(root.querySelector(":scope [data-bar]"), task.progress, task.status);
    setField(root, "percent", pct(task.progress));
    setField(root, "stage", task.stage || "");
    const eta = fmtEta(task.eta_seconds);
    setField(root, "eta", active && eta ? (root.matches(".task") ? `· ${eta}` : eta) : "");
    setField(root, "attempts", String(task.attempts));
    setStatus(root.querySelector('[data-field="status"]'), task.status);
    (task.subtasks || []).forEach((sub) => {
      const row = root.querySelector(`[data-subtask="${CSS.escape(sub.name)}"]`);
      if (!row) return;
      row.dataset.status = sub.status;
      paintBar(row.querySelector("[data-bar]"), sub.progress, sub.status);
      setField(row, "percent", pct(sub.progress));
      setField(row, "status", sub.status);
    });
  }

  // Transcripts (video page, a transcription's result): a click (or Enter) on a line or paragraph plays the
  // media of the same block from its start.
  document.addEventListener("click", (e) => {
    const line = e.target.closest("button.seek");
    const scope = line && line.closest("#video, #result");
    const player = scope && scope.querySelector("[data-player]");
    if (!player) return;
    player.currentTime = Number(line.dataset.start);
    player.play().catch(() => { /* autoplay refused: the position is set all the same */ });
    scope.querySelectorAll("button.seek[aria-current]").forEach((b) => b.removeAttribute("aria-current"));
    line.setAttribute("aria-current", "true");
  });

  window.Montage = {
    ACTIVE, api, csrfToken, deleteVideo, errorText, fmtEta, humanError, paintBar, paintTask, pct, setField,
  };
})();
