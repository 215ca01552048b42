/* Video page: transcribe / reprocess (409 task_conflict: "already running, view it", with force), delete. */
(function () {
  "use strict";
  const M = window.Montage;
  const root = document.getElementById("video");
  const conflict = document.getElementById("conflict");
  const force = document.getElementById("force");
  const error = document.getElementById("action-error");
  let pending = null; // the action the force button repeats

  async function start(button, withForce) {
    error.textContent = "";
    button.disabled = true;
    const url = withForce ? `${button.dataset.url}?force=true` : button.dataset.url;
    const { ok, status, data } = await M.api("POST", url, { force: withForce });
    button.disabled = false;
    if (ok) { window.location.assign(`/tasks/${data.task_id}/`); return; }
    if (status === 409 && data && data.code === "task_conflict" && data.task_id) {
      pending = button;
      conflict.querySelector('[data-field="link"]').href = `/tasks/${data.task_id}/`;
      conflict.hidden = false;
      return;
    }
    error.textContent = M.errorText(data, status);
  }

  async function remove(button) {
    if (!window.confirm("Delete this video and its files?")) return;
    error.textContent = "";
    button.disabled = true;
    const { ok, status, data } = await M.api("DELETE", root.dataset.detailUrl);
    button.disabled = false;
    if (ok) { window.location.assign("/"); return; }
    error.textContent = M.errorText(data, status);
    if (data && data.task_id) {
      const link = document.createElement("a");
      link.href = `/tasks/${data.task_id}/`;
      link.textContent = " View the task.";
      error.append(link);
    }
  }

  root.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-action]");
    if (!button) return;
    conflict.hidden = true;
    if (button.dataset.action === "delete") remove(button); else start(button, false);
  });

  force.addEventListener("click", () => {
    if (pending) { conflict.hidden = true; start(pending, true); }
  });
})();
