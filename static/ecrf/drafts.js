// Keeps what a nurse types in a data-entry form in this browser until the server has saved it,
// so that an expired session or a lost connection does not throw the typed data away.
// Forms opt in with data-draft-key; a page shown after a successful save carries
// data-clear-draft with the same key.
(function () {
  "use strict";
  var PREFIX = "ecrf-draft:";
  var SKIP = { csrfmiddlewaretoken: true, password: true, loaded_version: true };

  document.querySelectorAll("[data-clear-draft]").forEach(function (el) {
    window.localStorage.removeItem(PREFIX + el.getAttribute("data-clear-draft"));
  });

  function fields(form) {
    return Array.prototype.filter.call(form.elements, function (el) {
      return el.name && !SKIP[el.name] && el.type !== "submit" && el.type !== "hidden";
    });
  }

  function snapshot(form) {
    var data = {};
    fields(form).forEach(function (el) {
      if (el.type === "checkbox" || el.type === "radio") {
        if (el.checked) { (data[el.name] = data[el.name] || []).push(el.value); }
      } else {
        data[el.name] = el.value;
      }
    });
    return data;
  }

  function restore(form, data) {
    fields(form).forEach(function (el) {
      if (!(el.name in data)) { return; }
      if (el.type === "checkbox" || el.type === "radio") {
        el.checked = data[el.name].indexOf(el.value) !== -1;
      } else {
        el.value = data[el.name];
      }
    });
  }

  document.querySelectorAll("form[data-draft-key]").forEach(function (form) {
    var key = PREFIX + form.getAttribute("data-draft-key");
    var saved = window.localStorage.getItem(key);
    // After a refused save the server shows the typed values itself, with its messages.
    var refused = form.querySelector(".is-invalid, .invalid-feedback, .alert-danger");
    if (saved && !refused) {
      restore(form, JSON.parse(saved));
      var note = document.createElement("div");
      note.className = "alert alert-info draft-restored";
      note.textContent = "What you typed earlier in this form was not saved yet; it has been put back. Check it and save.";
      form.insertBefore(note, form.firstChild);
    }
    form.addEventListener("input", function () {
      window.localStorage.setItem(key, JSON.stringify(snapshot(form)));
    });
    form.addEventListener("change", function () {
      window.localStorage.setItem(key, JSON.stringify(snapshot(form)));
    });
  });
})();
