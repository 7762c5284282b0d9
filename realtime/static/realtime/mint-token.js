// The copy button of the admin's "Mint token" page (no inline script: CSP-friendly).
"use strict";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  const status = document.getElementById(button.dataset.copy + "-status");
  field.focus();
  field.select();
  let copied = false;
  try {
    // The Clipboard API needs a secure context (https or localhost).
    await navigator.clipboard.writeText(field.value);
    copied = true;
  } catch (error) {
    copied = document.execCommand && document.execCommand("copy");
  }
  if (status) status.textContent = copied ? "Copied." : "Press Ctrl+C to copy the selected token.";
});
