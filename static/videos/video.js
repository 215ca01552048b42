/* Video page: transcribe / reprocess / paragraphs (409 task_conflict: "already running, view it", with force), delete. */
(function () {
  "use strict";
  const M = window.Montage;
  const root = document.getElementById("video");
  const conflict = document.getElementById("conflict");
  const force = document.getElementById("force");
  const error = document.getElementById("action-error");
  const srtForm = document.getElementById("srt-form");
  let repeat = null; // what the force button sends again, with force

  /** Send a request that starts work; 202 goes to the task, 409 task_conflict offers the task and force. */
  async function start(send, control) {
    error.textContent = "";
    conflict.hidden = true;
    control.disabled = true;
    let answer;
    try { answer = await send(false); } catch (e) { answer = { ok: false, status: 0, data: null }; }
    control.disabled = false;
    const { ok, status, data } = answer;
    if (ok) { window.location.assign(`/tasks/${data.task_id}/`); return; }
    if (status === 409 && data && data.code === "task_conflict" && data.task_id) {
      repeat = () => start(() => send(true), control);
      conflict.querySelector('[data-field="link"]').href = `/tasks/${data.task_id}/`;
      conflict.hidden = false;
      return;
    }
    error.textContent = M.errorText(data, status);
  }

  function pipeline(button) {
    return (withForce) => M.api("POST", withForce ? `${button.dataset.url}?force=true` : button.dataset.url,
      { force: withForce });
  }

  function paragraphs(withForce) {
    const form = new FormData();
    form.append("video_id", root.dataset.video);
    const srt = srtForm.elements.srt_file.files[0];
    if (srt) form.append("srt_file", srt);
    if (withForce) form.append("force", "true");
    return M.api("POST", srtForm.dataset.url, form);
  }

  async function remove(button) {
    if (await M.deleteVideo(root.dataset.video, root.dataset.title, button, error)) window.location.assign("/");
  }

  root.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-action]");
    if (!button) return;
    if (button.dataset.action === "delete") remove(button); else start(pipeline(button), button);
  });

  srtForm.addEventListener("submit", (e) => {
    e.preventDefault();
    start(paragraphs, srtForm.querySelector("button[type=submit]"));
  });

  // Lines or paragraphs: one pane at a time.
  root.querySelectorAll("[data-view]").forEach((toggle) => toggle.addEventListener("click", () => {
    root.querySelectorAll("[data-view]").forEach((b) => b.setAttribute("aria-pressed", String(b === toggle)));
    root.querySelectorAll("[data-pane]").forEach((pane) => { pane.hidden = pane.dataset.pane !== toggle.dataset.view; });
  }));

  force.addEventListener("click", () => {
    if (repeat) { conflict.hidden = true; repeat(); }
  });
})();
