// sanity's small browser script: tag controls, expandable abstracts, tag management, tidy forms.
// No inline handlers anywhere (the Content-Security-Policy forbids them): everything binds here.
"use strict";

(function () {
  document.documentElement.classList.add("js");

  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const LAST_TAG = "sanity.lastTag";

  /** Call the JSON API; resolves to {ok, status, data}. Never throws. */
  async function api(method, url, body) {
    const headers = { Accept: "application/json" };
    if (csrfMeta) headers["X-CSRFToken"] = csrfMeta.content;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    try {
      const response = await fetch(url, {
        method,
        headers,
        credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      let data = null;
      try {
        data = await response.json();
      } catch (e) {
        data = null;
      }
      return { ok: response.ok, status: response.status, data };
    } catch (e) {
      return { ok: false, status: 0, data: null };
    }
  }

  function errorText(result) {
    if (result.status === 0) return "Could not reach the server. Check your connection.";
    if (result.status === 401) return "Your session has ended: log in again.";
    if (result.status === 400 && result.data && /CSRF/i.test(result.data.error || ""))
      return "This page is out of date: reload it and try again.";
    return (result.data && result.data.error) || `Something went wrong (${result.status}).`;
  }

  const enc = encodeURIComponent;
  const tagUrl = (name) => `/api/tags/${enc(name)}`;

  function remember(name) {
    try {
      localStorage.setItem(LAST_TAG, name);
    } catch (e) {
      /* private mode: nothing to remember */
    }
  }

  function recall() {
    try {
      return localStorage.getItem(LAST_TAG) || "";
    } catch (e) {
      return "";
    }
  }

  // ---- tag controls on paper cards ----

  function chip(name, negative) {
    const li = document.createElement("li");
    li.className = negative ? "chip neg" : "chip";
    li.dataset.tag = name;
    li.dataset.negative = negative ? "1" : "0";
    const a = document.createElement("a");
    a.href = `/tags/${enc(name)}` + (negative ? "?negative=1" : "");
    a.title = negative ? `Not interested (for ${name})` : `In tag ${name}`;
    if (negative) {
      const mark = document.createElement("span");
      mark.className = "chip-mark";
      mark.setAttribute("aria-hidden", "true");
      mark.textContent = "⊘";
      a.append(mark, " ");
    }
    a.append(name);
    const x = document.createElement("button");
    x.type = "button";
    x.className = "chip-x";
    x.dataset.remove = "";
    x.setAttribute("aria-label", `Remove from ${name}`);
    x.title = `Remove from ${name}`;
    x.textContent = "×";
    li.append(a, x);
    return li;
  }

  /** Redraw a card's chips and the tag-name suggestions from an API answer. */
  function refresh(box, data) {
    if (!data || !data.tags) return;
    const pid = box.dataset.pid;
    const chips = [];
    const names = Object.keys(data.tags).sort((a, b) => a.localeCompare(b));
    for (const name of names) {
      if ((data.tags[name] || []).includes(pid)) chips.push(chip(name, false));
      if (((data.negative || {})[name] || []).includes(pid)) chips.push(chip(name, true));
    }
    box.querySelector(".chips").replaceChildren(...chips);
    const card = box.closest(".paper");
    const dismissed = chips.length > 0 && chips.every((c) => c.dataset.negative === "1");
    if (card) card.classList.toggle("dismissed", dismissed);
    const list = document.getElementById("my-tags");
    if (list) {
      list.replaceChildren(
        ...names.map((n) => {
          const option = document.createElement("option");
          option.value = n;
          return option;
        }),
      );
    }
  }

  function say(box, text, bad) {
    const out = box.querySelector(".feedback");
    if (!out) return;
    out.textContent = text;
    out.classList.toggle("bad", Boolean(bad));
    out.classList.toggle("good", !bad);
    clearTimeout(out.timer);
    // Confirmations fade after a moment; errors stay until the next action.
    if (!bad && text !== "Saving…") out.timer = setTimeout(() => (out.textContent = ""), 4000);
  }

  async function tagPaper(box, negative) {
    const input = box.querySelector('input[name="tag"]');
    const name = input.value.trim().replace(/\s+/g, " ");
    if (!name) {
      say(box, negative ? "Type the tag this paper is not right for." : "Type a tag name.", true);
      input.focus();
      return;
    }
    const buttons = box.querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    say(box, "Saving…", false);
    const url = `${tagUrl(name)}/papers/${enc(box.dataset.pid)}` + (negative ? "?negative=1" : "");
    const result = await api("PUT", url);
    buttons.forEach((b) => (b.disabled = false));
    if (!result.ok) {
      say(box, errorText(result), true);
      return;
    }
    remember(name);
    refresh(box, result.data);
    say(box, negative ? `Marked not interested (${name}).` : `Tagged ${name}.`, false);
  }

  async function untag(box, chipEl) {
    const name = chipEl.dataset.tag;
    const url = `${tagUrl(name)}/papers/${enc(box.dataset.pid)}`;
    chipEl.classList.add("busy");
    const result = await api("DELETE", url);
    if (!result.ok) {
      chipEl.classList.remove("busy");
      say(box, errorText(result), true);
      return;
    }
    refresh(box, result.data);
    say(box, `Removed from ${name}.`, false);
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.matches(".tagform")) {
      event.preventDefault();
      tagPaper(form.closest(".tagbox"), false);
    } else if (form.matches(".rename")) {
      event.preventDefault();
      renameTag(form.closest(".tagrow"), form);
    } else if (form.matches(".getform, .search")) {
      tidy(form);
    }
  });

  document.addEventListener("click", (event) => {
    const target = event.target.closest("button");
    if (!target) return;
    if (target.matches("[data-not-interested]")) {
      tagPaper(target.closest(".tagbox"), true);
    } else if (target.matches("[data-remove]")) {
      untag(target.closest(".tagbox"), target.closest(".chip"));
    } else if (target.matches("[data-rename]")) {
      const form = target.closest(".tagrow").querySelector(".rename");
      form.hidden = !form.hidden;
      target.setAttribute("aria-expanded", String(!form.hidden));
      if (!form.hidden) form.elements.name.select();
    } else if (target.matches("[data-delete-tag]")) {
      deleteTag(target.closest(".tagrow"));
    } else if (target.matches(".more")) {
      const text = target.previousElementSibling;
      const open = text.classList.toggle("open");
      target.textContent = open ? "Show less" : "Show more";
      target.setAttribute("aria-expanded", String(open));
    }
  });

  // Tag inputs start from the tag used last, unless the page chose one (a single-tag view).
  const last = recall();
  if (last) {
    document.querySelectorAll('.tagform input[name="tag"]').forEach((input) => {
      if (!input.value) input.value = last;
    });
  }

  // ---- abstracts: collapsed to a few lines, "Show more" only where something is hidden ----

  function addToggles() {
    document.querySelectorAll(".abstract.clamp").forEach((p) => {
      const next = p.nextElementSibling;
      const hasToggle = next && next.classList.contains("more");
      const overflows = p.scrollHeight > p.clientHeight + 2 || p.classList.contains("open");
      if (overflows && !hasToggle) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "more linkish";
        button.textContent = "Show more";
        button.setAttribute("aria-expanded", "false");
        p.after(button);
      } else if (!overflows && hasToggle) {
        next.remove();
      }
    });
  }
  addToggles();
  document.addEventListener("sanity:math", addToggles); // typeset math changes the heights
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(addToggles, 150);
  });

  // Charts wider than a phone scroll inside their box: start at the most recent days.
  document.querySelectorAll(".chartwrap").forEach((w) => (w.scrollLeft = w.scrollWidth));

  // ---- filters: selects apply at once; empty fields stay out of the URL ----

  function tidy(form) {
    form.querySelectorAll("input, select").forEach((field) => {
      if (field.name && field.value === "" && field.type !== "checkbox") field.disabled = true;
    });
    // Re-enable after the browser has read the form (back/forward cache keeps the page).
    setTimeout(() => form.querySelectorAll(":disabled").forEach((f) => (f.disabled = false)), 0);
  }

  document.addEventListener("change", (event) => {
    const field = event.target;
    if (field.matches('.tagpick input[type="checkbox"]')) {
      const boxes = field.closest(".tagpick").querySelectorAll('input[type="checkbox"]');
      if (field.value === "all" && field.checked) {
        boxes.forEach((b) => (b.checked = b.value === "all"));
      } else if (field.checked) {
        boxes.forEach((b) => {
          if (b.value === "all") b.checked = false;
        });
      }
    }
    if (field.matches(".autosubmit") && field.form) {
      if (field.form.requestSubmit) field.form.requestSubmit();
      else field.form.submit();
    }
  });

  // ---- the tags page: rename and delete ----

  async function renameTag(row, form) {
    const old = row.dataset.tag;
    const name = form.elements.name.value.trim().replace(/\s+/g, " ");
    if (!name || name === old) return;
    const result = await api("POST", `${tagUrl(old)}/rename`, { name });
    if (!result.ok) {
      say(row, errorText(result), true);
      return;
    }
    const merged = Object.keys(result.data.tags || {}).length < document.querySelectorAll(".tagrow").length;
    say(row, merged ? `Merged into ${name}.` : `Renamed to ${name}.`, false);
    window.location.reload();
  }

  async function deleteTag(row) {
    const name = row.dataset.tag;
    const count = Number(row.dataset.count || 0);
    const what = count === 1 ? "1 paper" : `${count} papers`;
    if (!window.confirm(`Delete the tag “${name}”? Its ${what} stay in sanity; only the tag goes.`)) return;
    const result = await api("DELETE", tagUrl(name));
    if (!result.ok) {
      say(row, errorText(result), true);
      return;
    }
    const list = row.parentElement;
    row.remove();
    if (list && !list.querySelector(".tagrow")) window.location.reload();
  }
})();
