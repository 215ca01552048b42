/* Compose: add videos (repeats allowed), order them with up/down, pick the engine, start, go to the task. */
(function () {
  "use strict";
  const M = window.Montage;
  const order = document.getElementById("order");
  const template = document.getElementById("order-row");
  const form = document.getElementById("compose-form");
  const start = document.getElementById("start");
  const error = document.getElementById("compose-error");

  function items() { return Array.from(order.querySelectorAll("li[data-id]")); }

  function refresh() {
    const count = items().length;
    const empty = order.querySelector(".empty");
    if (empty) empty.hidden = count > 0;
    start.disabled = count < 2;
    start.textContent = count < 2 ? "Start composition" : `Start composition of ${count} videos`;
    items().forEach((li, i, all) => {
      li.querySelector('[data-move="up"]').disabled = i === 0;
      li.querySelector('[data-move="down"]').disabled = i === all.length - 1;
    });
  }

  document.getElementById("available").addEventListener("click", (e) => {
    const button = e.target.closest("button.add");
    if (!button) return;
    const li = template.content.firstElementChild.cloneNode(true);
    li.dataset.id = button.dataset.id;
    li.querySelector(".title").textContent = button.dataset.title;
    order.append(li);
    refresh();
  });

  order.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-move]");
    if (!button) return;
    const li = button.closest("li");
    const move = button.dataset.move;
    if (move === "up" && li.previousElementSibling && li.previousElementSibling.dataset.id) {
      order.insertBefore(li, li.previousElementSibling);
    } else if (move === "down" && li.nextElementSibling) {
      order.insertBefore(li.nextElementSibling, li);
    } else if (move === "remove") {
      li.remove();
    }
    refresh();
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    start.disabled = true;
    const body = {
      videos: items().map((li) => li.dataset.id),
      title: form.elements.title.value.trim(),
      engine: form.elements.engine.value,
    };
    try {
      const { ok, status, data } = await M.api("POST", "/api/v1/compositions/", body);
      if (ok) { window.location.assign(`/tasks/${data.task_id}/`); return; }
      error.textContent = M.errorText(data, status);
    } catch (err) {
      error.textContent = M.errorText(null, 0);
    }
    refresh();
  });

  refresh();
})();
