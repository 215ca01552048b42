/* Task page: poll the task's JSON about every second until it ends; cancel, retry, then show the result. */
(function () {
  "use strict";
  const M = window.Montage;
  const root = document.getElementById("task");
  if (!root) return;
  const initial = JSON.parse(document.getElementById("task-data").textContent);
  const cancelButton = document.getElementById("cancel");
  const retryButton = document.getElementById("retry");
  const errorBox = document.getElementById("error");
  const cancelling = document.getElementById("cancelling");
  const resumed = document.getElementById("resumed");
  const actionError = document.getElementById("action-error");
  const POLL_MS = 1000;
  let timer = null;
  let resultShown = root.dataset.status === "completed" && document.querySelector("#result .result") !== null;

  function isActive(task) { return M.ACTIVE.includes(task.status); }

  async function showResult() {
    if (resultShown) return;
    resultShown = true;
    const response = await fetch(root.dataset.resultUrl, { credentials: "same-origin" });
    if (response.ok) document.getElementById("result").innerHTML = await response.text();
  }

  function render(task) {
    M.paintTask(root, task);
    const active = isActive(task);
    cancelButton.hidden = !active;
    cancelling.hidden = !(active && task.cancel_requested);
    retryButton.hidden = !(task.status === "failed" || task.status === "cancelled");
    resumed.hidden = !task.resumed;
    errorBox.hidden = !task.error_message;
    errorBox.textContent = task.error_message || "";
    if (task.status === "completed") showResult();
    document.title = `${active ? M.pct(task.progress) + " · " : ""}${task.kind} task · Montage`;
  }

  async function poll() {
    timer = null;
    let delay = POLL_MS;
    try {
      const { ok, status, data } = await M.api("GET", root.dataset.statusUrl);
      if (ok) {
        render(data);
        if (!isActive(data)) return; // finished: stop polling
      } else if (status === 404 || status === 401 || status === 403) {
        actionError.textContent = M.errorText(data, status);
        return;
      } else {
        delay = POLL_MS * 3;
      }
    } catch (e) {
      delay = POLL_MS * 3; // the server restarted or the network blinked: keep trying, a bit slower
    }
    schedule(delay);
  }

  function schedule(delay) {
    if (timer === null) timer = setTimeout(poll, delay);
  }

  cancelButton.addEventListener("click", async () => {
    cancelButton.disabled = true;
    actionError.textContent = "";
    const { ok, status, data } = await M.api("POST", root.dataset.cancelUrl);
    cancelButton.disabled = false;
    if (ok) {
      render(data);
      if (isActive(data)) schedule(250);
    } else {
      actionError.textContent = M.errorText(data, status);
      schedule(0);
    }
  });

  retryButton.addEventListener("click", async () => {
    retryButton.disabled = true;
    actionError.textContent = "";
    const { ok, status, data } = await M.api("POST", root.dataset.retryUrl);
    if (ok) {
      window.location.assign(`/tasks/${data.task_id}/`);
    } else {
      retryButton.disabled = false;
      actionError.textContent = M.errorText(data, status);
    }
  });

  render(initial);
  if (isActive(initial)) schedule(POLL_MS);
})();
