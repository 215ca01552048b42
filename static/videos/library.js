/* Library: drag-and-drop upload with a progress bar per file (XMLHttpRequest upload progress); delete a video. */
(function () {
  "use strict";
  const M = window.Montage;
  const section = document.getElementById("upload");
  const zone = document.getElementById("dropzone");
  const input = document.getElementById("upload-input");
  const list = document.getElementById("uploads");
  const template = document.getElementById("upload-row");
  const maxBytes = Number(section.dataset.maxMb) * 1024 * 1024;
  const queue = [];
  let busy = false;

  function addRow(file) {
    const row = template.content.firstElementChild.cloneNode(true);
    row.querySelector(".name").textContent = file.name;
    list.prepend(row);
    return row;
  }

  function settle(row, state, message) {
    row.dataset.state = state;
    const badge = row.querySelector('[data-field="status"]');
    badge.textContent = state;
    badge.className = `badge status-${state === "failed" ? "failed" : state === "done" ? "completed" : "processing"}`;
    const text = row.querySelector('[data-field="message"]');
    text.className = `small${state === "failed" ? " error" : ""}`;
    if (message instanceof Node) { text.replaceChildren(message); } else { text.textContent = message || ""; }
  }

  /** Swap the video list for the server's fresh rendering (one source of markup, no reload). */
  async function refreshVideos() {
    const response = await fetch(window.location.href, { credentials: "same-origin" }); // keeps search and page
    if (!response.ok) return;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const id of ["videos", "video-count"]) {
      const fresh = doc.getElementById(id);
      if (fresh) document.getElementById(id).replaceWith(fresh);
    }
  }

  function send(file, row) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      const bar = row.querySelector("[data-bar]");
      xhr.open("POST", "/api/v1/videos/");
      xhr.setRequestHeader("X-CSRFToken", M.csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) M.paintBar(bar, (100 * e.loaded) / e.total, "processing");
      });
      xhr.upload.addEventListener("load", () => settle(row, "checking", "Uploaded; checking the file…"));
      xhr.addEventListener("load", () => {
        let data = null;
        try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
        if (xhr.status === 201 && data) {
          M.paintBar(bar, 100, "completed");
          const link = document.createElement("a");
          link.href = `/videos/${data.id}/`;
          link.textContent = `${data.title} · ${Number(data.duration_s || 0).toFixed(1)} s`;
          settle(row, "done", link);
          resolve(true);
        } else {
          M.paintBar(bar, 100, "failed");
          settle(row, "failed", M.humanError(data, xhr.status));
          resolve(false);
        }
      });
      xhr.addEventListener("error", () => {
        M.paintBar(bar, 100, "failed");
        settle(row, "failed", "The upload was interrupted (the connection closed). Try again.");
        resolve(false);
      });
      const form = new FormData();
      form.append("file", file);
      xhr.send(form);
    });
  }

  async function drain() {
    if (busy) return;
    busy = true;
    while (queue.length) {
      const { file, row } = queue.shift();
      if (await send(file, row)) await refreshVideos();
    }
    busy = false;
  }

  function enqueue(files) {
    for (const file of files) {
      const row = addRow(file);
      if (file.size > maxBytes) {
        M.paintBar(row.querySelector("[data-bar]"), 100, "failed");
        settle(row, "failed", `The file (${(file.size / 1048576).toFixed(1)} MB) is larger than the limit of ${section.dataset.maxMb} MB.`);
        continue;
      }
      queue.push({ file, row });
    }
    drain();
  }

  /** Delete one video after a confirmation; a 409 (a task works on it) says which task, with a link. */
  async function remove(button) {
    const card = button.closest("[data-video]");
    const title = card.querySelector(".title").textContent;
    const error = card.querySelector('[data-field="error"]');
    if (await M.deleteVideo(card.dataset.video, title, button, error)) await refreshVideos();
  }

  document.addEventListener("click", (e) => {
    const button = e.target.closest('#videos button[data-action="delete"]');
    if (button) remove(button);
  });

  // A file dropped beside the zone must not make the browser leave the page to show it.
  ["dragover", "drop"].forEach((type) => window.addEventListener(type, (e) => e.preventDefault()));
  input.addEventListener("change", () => { enqueue(Array.from(input.files)); input.value = ""; });
  ["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (e) => {
    e.preventDefault();
    zone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("over")));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    enqueue(Array.from(e.dataTransfer.files));
  });
})();
