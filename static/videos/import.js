/* Library: "Import from URL" starts an import through the API and opens its task page (progress lives there). */
(function () {
  "use strict";
  const form = document.getElementById("import-form");
  if (!form || !window.Montage) return;
  const message = document.getElementById("import-message");

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    message.textContent = "Starting the import…";
    const body = { url: form.url.value.trim(), transcribe: form.transcribe.checked };
    const { ok, status, data } = await Montage.api("POST", "/api/v1/videos/import", body);
    if (ok) {
      window.location.href = `/tasks/${data.task_id}/`;
      return;
    }
    message.textContent = Montage.errorText(data, status);
    button.disabled = false;
  });
})();
