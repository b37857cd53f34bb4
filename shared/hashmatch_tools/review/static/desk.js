// The review desk's keyboard and its care for the person looking: pictures stay blurred until one is revealed,
// only one is revealed at a time, and it blurs again when the pointer or focus leaves it or the window is left.
// Without JavaScript every picture stays blurred and the forms still work.
"use strict";

(function () {
  const pictures = () => Array.from(document.querySelectorAll("[data-picture]"));

  function blurAll() {
    pictures().forEach((figure) => figure.classList.remove("revealed"));
  }

  function reveal(figure) {
    pictures().forEach((other) => { if (other !== figure) other.classList.remove("revealed"); });
    figure.classList.add("revealed");
  }

  function revealNext() {
    const all = pictures();
    if (!all.length) return;
    const current = all.findIndex((figure) => figure.classList.contains("revealed"));
    const next = all[(current + 1) % all.length];
    reveal(next);
    next.scrollIntoView({ block: "nearest" });
  }

  // A decision key selects its button first; the same key again (or Enter) decides. One stray key never takes anything down.
  let armed = null;
  function arm(button) {
    if (!button || button.disabled) return;
    if (armed === button) { button.click(); return; }
    if (armed) armed.classList.remove("armed");
    armed = button;
    button.classList.add("armed");
    button.focus();
  }

  function typing(event) {
    const target = event.target;
    return target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  }

  document.addEventListener("DOMContentLoaded", () => {
    pictures().forEach((figure) => {
      figure.addEventListener("click", () => reveal(figure));
      figure.addEventListener("mouseleave", () => figure.classList.remove("revealed"));
      figure.addEventListener("focusout", () => figure.classList.remove("revealed"));
    });
    const help = document.getElementById("help");
    document.querySelectorAll("[data-help-toggle]").forEach((button) => button.addEventListener("click", () => { help.hidden = !help.hidden; }));

    document.addEventListener("keydown", (event) => {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === "Escape") { blurAll(); if (armed) { armed.classList.remove("armed"); armed = null; } help.hidden = true; return; }
      if (typing(event)) return;
      const key = event.key.toLowerCase();
      if (key === "v") { revealNext(); event.preventDefault(); return; }
      if (key === "b") { blurAll(); return; }
      if (key === "?") { help.hidden = !help.hidden; return; }
      const target = document.querySelector(`[data-key="${key}"]`);
      if (!target) return;
      event.preventDefault();
      if (target.tagName === "A") { window.location.assign(target.href); return; }
      arm(target);
    });
  });

  // Leaving the window (another tab, another program) blurs everything.
  document.addEventListener("visibilitychange", () => { if (document.hidden) blurAll(); });
  window.addEventListener("blur", blurAll);
  window.addEventListener("pagehide", blurAll);
})();
