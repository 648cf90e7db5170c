// Type-ahead over the CTCAE v5.0 terms in the adverse event form.
// The nurse types part of a term or a MedDRA code; matching terms are listed under the input
// (arrow keys move, Enter or a click chooses, Escape closes). Choosing a term fills the input
// and leaves only the grades the term defines selectable, with NCI's grade descriptions when
// they are loaded. Without this script the form still works: the server checks term and grade.
(function () {
  "use strict";
  var input = document.querySelector("input[data-term-search]");
  if (!input) { return; }
  var form = input.form;
  var url = input.getAttribute("data-term-search");
  var grades = Array.prototype.slice.call(form.querySelectorAll("input[name=grade]"));
  var verbatim = form.querySelector("input[name=verbatim]");
  var listId = input.id + "-results";
  var results = [];
  var active = -1;
  var timer = null;
  var sequence = 0;

  var list = document.createElement("ul");
  list.id = listId;
  list.className = "list-group shadow term-search-results";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "Matching CTCAE terms");
  list.hidden = true;
  list.style.position = "absolute";
  list.style.left = "0";
  list.style.right = "0";
  list.style.zIndex = "1000";
  list.style.maxHeight = "22rem";
  list.style.overflowY = "auto";
  input.parentNode.style.position = "relative";
  input.insertAdjacentElement("afterend", list);

  var status = document.createElement("div");
  status.className = "visually-hidden";
  status.setAttribute("aria-live", "polite");
  list.insertAdjacentElement("afterend", status);

  var info = document.createElement("div");
  info.id = input.id + "-info";
  info.className = "form-text term-info";
  status.insertAdjacentElement("afterend", info);

  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", listId);
  input.setAttribute("aria-expanded", "false");
  input.setAttribute("aria-describedby",
    ((input.getAttribute("aria-describedby") || "") + " " + info.id).trim());

  function fetchTerms(query) {
    return fetch(url + "?q=" + encodeURIComponent(query), {
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    }).then(function (response) { return response.ok ? response.json() : []; });
  }

  function describe(term) {
    return term.soc + " · MedDRA " + term.meddra_code + " · grades " + term.grades.join(", ");
  }

  function open() {
    list.style.top = (input.offsetTop + input.offsetHeight) + "px";
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }

  function close() {
    list.hidden = true;
    active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function highlight(index) {
    var options = list.children;
    if (!options.length) { return; }
    active = (index + options.length) % options.length;
    Array.prototype.forEach.call(options, function (option, i) {
      option.classList.toggle("active", i === active);
      option.setAttribute("aria-selected", i === active ? "true" : "false");
    });
    input.setAttribute("aria-activedescendant", options[active].id);
    options[active].scrollIntoView({ block: "nearest" });
  }

  function render(found) {
    results = found;
    active = -1;
    list.textContent = "";
    found.forEach(function (term, i) {
      var option = document.createElement("li");
      option.id = listId + "-" + i;
      option.className = "list-group-item list-group-item-action py-1";
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      option.style.cursor = "pointer";
      var name = document.createElement("div");
      name.className = "fw-semibold";
      name.textContent = term.term;
      var detail = document.createElement("div");
      detail.className = "small text-body-secondary";
      detail.textContent = describe(term);
      option.appendChild(name);
      option.appendChild(detail);
      // mousedown, not click: the input keeps the focus, so blur does not close the list first.
      option.addEventListener("mousedown", function (event) {
        event.preventDefault();
        choose(i);
      });
      list.appendChild(option);
    });
    status.textContent = found.length
      ? found.length + (found.length === 1 ? " term found" : " terms found") + "; use the arrow keys to choose."
      : "No CTCAE term found.";
    if (found.length) { open(); } else { close(); }
  }

  function exactMatch(found, value) {
    var key = value.trim().toLowerCase();
    for (var i = 0; i < found.length; i++) {
      if (found[i].term.toLowerCase() === key || found[i].meddra_code === key) { return found[i]; }
    }
    return null;
  }

  // Restrict the grade radios to the term's grades; `chosen` is true when the nurse has just
  // picked the term, so a grade the term does not allow is unticked. On page load a refused
  // grade stays ticked next to the server's message.
  function applyTerm(term, chosen) {
    grades.forEach(function (radio) {
      var allowed = !term || term.grades.indexOf(Number(radio.value)) !== -1;
      radio.disabled = !allowed;
      if (!allowed && chosen) { radio.checked = false; }
      var wrapper = radio.closest(".form-check");
      if (wrapper) {
        wrapper.classList.toggle("grade-not-allowed", !allowed);
        var old = wrapper.querySelector(".grade-description");
        if (old) { old.remove(); }
        var text = term && term.descriptions && term.descriptions[radio.value];
        var label = wrapper.querySelector("label");
        if (text && label) {
          var description = document.createElement("div");
          description.id = radio.id + "-description";
          description.className = "form-text mt-0 grade-description";
          description.textContent = text;
          label.insertAdjacentElement("afterend", description);
          radio.setAttribute("aria-describedby", description.id);
        } else {
          radio.removeAttribute("aria-describedby");
        }
      }
    });
    info.textContent = "";
    if (term) {
      info.textContent = describe(term) + "." +
        (term.other_specify ? " An 'Other, specify' term needs the verbatim description." : "");
    }
    if (verbatim) {
      if (term && term.other_specify) {
        verbatim.setAttribute("aria-required", "true");
      } else {
        verbatim.removeAttribute("aria-required");
      }
    }
  }

  function choose(index) {
    var term = results[index];
    if (!term) { return; }
    input.value = term.term;
    close();
    applyTerm(term, true);
    status.textContent = term.term + " chosen; grades " + term.grades.join(", ") + ".";
    // The draft keeper listens for change events; a value set by script fires none.
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function search() {
    var value = input.value;
    var mine = ++sequence;
    if (value.trim().length < 2) {
      render([]);
      status.textContent = "";
      return;
    }
    fetchTerms(value).then(function (found) {
      // A slower answer to an earlier query must not replace the newer one.
      if (mine !== sequence) { return; }
      render(found);
      var match = exactMatch(found, value);
      if (match) { applyTerm(match, false); }
    }).catch(function () { /* The server still checks the term when the form is saved. */ });
  }

  input.addEventListener("input", function () {
    applyTerm(null, false);
    window.clearTimeout(timer);
    timer = window.setTimeout(search, 150);
  });

  input.addEventListener("keydown", function (event) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!results.length) { return; }
      event.preventDefault();
      if (list.hidden) { open(); }
      highlight(active + (event.key === "ArrowDown" ? 1 : -1));
    } else if (event.key === "Enter") {
      if (list.hidden || !results.length) { return; }
      // Enter in an open list chooses a term; it does not submit the form.
      event.preventDefault();
      choose(active >= 0 ? active : 0);
    } else if (event.key === "Escape") {
      if (!list.hidden) {
        event.preventDefault();
        close();
      }
    }
  });

  input.addEventListener("blur", function () { close(); });

  // A saved or refused term: restrict the grades to it without unticking anything.
  if (input.value.trim()) {
    fetchTerms(input.value).then(function (found) {
      applyTerm(exactMatch(found, input.value), false);
    }).catch(function () {});
  }
})();
