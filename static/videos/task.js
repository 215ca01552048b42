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
  const attemptsBox = document.querySelector("details.attempts");
  let resultShown = document.querySelector("#result .card") !== null;
  let retryBlocked = document.querySelector("#result [data-retry-blocked]") !== null;

  function isActive(task) { return M.ACTIVE.includes(task.status); }

  async function showResult() {
    if (resultShown) return;
    resultShown = true;
    const response = await fetch(root.dataset.resultUrl, { credentials: "same-origin" });
    if (!response.ok) return;
    document.getElementById("result").innerHTML = await response.text();
    // A failure that a retry would repeat (its input is gone or unfit) says so there; Retry goes.
    retryBlocked = document.querySelector("#result [data-retry-blocked]") !== null;
    if (retryBlocked) retryButton.hidden = true;
  }

  function clockOf(iso) { return iso ? String(iso).slice(11, 19) : ""; }

  /** The attempts history (each start, how it ended), rebuilt from TaskProgress.attempts_log. */
  function renderAttempts(log) {
    if (!attemptsBox || !log) return;
    attemptsBox.hidden = log.length === 0;
    M.setField(attemptsBox, "attempt-count", String(log.length));
    const items = log.map((a) => {
      const li = document.createElement("li");
      li.textContent = `Attempt ${a.attempt}: ${a.outcome} in ${a.stage} · started ${clockOf(a.started_at)}` +
        (a.ended_at ? `, ended ${clockOf(a.ended_at)}` : "");
      return li;
    });
    document.getElementById("attempts").replaceChildren(...items);
  }

  function render(task) {
    M.paintTask(root, task);
    const active = isActive(task);
    cancelButton.hidden = !active;
    cancelling.hidden = !(active && task.cancel_requested);
    retryButton.hidden = !(task.status === "failed" || task.status === "cancelled") || retryBlocked;
    resumed.hidden = !task.resumed;
    M.setField(resumed, "resumed", `Resumed after an interruption (attempt ${task.attempts})`);
    renderAttempts(task.attempts_log);
    errorBox.hidden = !task.error_message;
    errorBox.textContent = task.error_message || "";
    if (task.status === "completed" || task.status === "failed") showResult();
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
