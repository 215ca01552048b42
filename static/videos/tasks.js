/* Task rows (tasks list, video page): keep active rows' bars live with one poll of my active tasks. */
(function () {
  "use strict";
  const M = window.Montage;
  const POLL_MS = 1500;
  const finishedList = document.getElementById("finished-tasks");

  function activeRows() {
    return Array.from(document.querySelectorAll("[data-live] [data-task]"))
      .filter((row) => M.ACTIVE.includes(row.dataset.status));
  }

  function finish(row, task) {
    M.paintTask(row, task);
    const from = row.parentElement;
    if (finishedList && from !== finishedList) {
      const empty = finishedList.querySelector(".empty");
      if (empty) empty.remove();
      finishedList.prepend(row);
      if (!from.querySelector("[data-task]")) {
        const none = document.createElement("li");
        none.className = "empty muted";
        none.textContent = "Nothing running.";
        from.append(none);
      }
    }
  }

  async function poll() {
    const rows = activeRows();
    if (!rows.length) return;
    try {
      const { ok, data } = await M.api("GET", "/api/v1/users/me/tasks");
      if (ok) {
        const live = new Map(data.active_tasks.map((t) => [t.task_id, t]));
        for (const row of rows) {
          const task = live.get(row.dataset.task);
          if (task) { M.paintTask(row, task); continue; }
          const single = await M.api("GET", `/api/v1/tasks/${row.dataset.task}/`); // it ended since
          if (single.ok) finish(row, single.data);
          else if (single.status === 404) row.dataset.status = "gone";
        }
      }
    } catch (e) { /* try again next time */ }
    setTimeout(poll, POLL_MS);
  }

  setTimeout(poll, POLL_MS);
})();
