/* Webhooks page: add, ping and remove endpoints and resend deliveries through the API, then reload. */
(function () {
  "use strict";
  const { api, errorText } = window.Montage;
  const BASE = "/api/v1/webhooks/";

  const form = document.getElementById("webhook-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = {
      url: data.get("url"),
      description: data.get("description") || "",
      events: data.getAll("events"),
    };
    const result = await api("POST", BASE, body);
    if (result.ok) return window.location.reload();
    form.querySelector('[data-field="form-error"]').textContent = errorText(result.data, result.status);
  });

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const row = button.closest("[data-endpoint]");
    const id = row.dataset.endpoint;
    const action = button.dataset.action;
    let result;
    if (action === "delete") {
      if (!window.confirm("Remove this endpoint and its delivery log?")) return;
      result = await api("DELETE", `${BASE}${id}/`);
    } else if (action === "ping") {
      result = await api("POST", `${BASE}${id}/ping`);
    } else if (action === "resend") {
      result = await api("POST", `${BASE}deliveries/${row.dataset.delivery}/resend`);
    }
    if (result && result.ok) {
      button.textContent = action === "delete" ? "Removed" : "Queued";
      return window.setTimeout(() => window.location.reload(), 600);
    }
    const error = row.querySelector('[data-field="error"]');
    if (error) error.textContent = errorText(result && result.data, result && result.status);
    else window.alert(errorText(result && result.data, result && result.status));
  });
})();
