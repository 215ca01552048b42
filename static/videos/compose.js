/* Compose: add videos (repeats allowed), order and trim them, pick size, subtitles and engine, start, go to the task. */
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
    if (button.dataset.duration) {
      li.querySelectorAll('input[type="number"]').forEach((input) => { input.max = button.dataset.duration; });
      li.querySelector('input[name="end"]').placeholder = Number(button.dataset.duration).toFixed(2);
    }
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

  /* An id, or {"video", "start"?, "end"?} when a trim was typed (the API checks the numbers). */
  function item(li) {
    const start = li.querySelector('input[name="start"]').value.trim();
    const end = li.querySelector('input[name="end"]').value.trim();
    if (!start && !end) return li.dataset.id;
    const clip = { video: li.dataset.id };
    if (start) clip.start = Number(start);
    if (end) clip.end = Number(end);
    return clip;
  }

  const customSize = document.getElementById("custom-size");
  form.elements.size.addEventListener("change", () => { customSize.hidden = form.elements.size.value !== "custom"; });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    start.disabled = true;
    const size = form.elements.size.value === "custom" ? form.elements.custom_size.value.trim() : form.elements.size.value;
    const body = {
      videos: items().map(item),
      title: form.elements.title.value.trim(),
      engine: form.elements.engine.value,
      size: size,
      subtitles: form.elements.subtitles.value,
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
