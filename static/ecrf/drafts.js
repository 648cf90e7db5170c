// Keeps what a nurse types in a data-entry form in this browser until the server has saved it,
// so that an expired session or a lost connection does not throw the typed data away.
// Forms opt in with data-draft-key; a page shown after a successful save carries
// data-clear-draft with the same key.
//
// A draft belongs to the person who typed it. <body> (base.html, ecrf/templatetags/drafts.py)
// carries data-draft-owner, an opaque id of the signed-in user, and data-draft-lifetime, the
// session lifetime in seconds. A draft is stored under "ecrf-draft:<owner>:<key>" with the time
// it was last typed in, and is put back only for its owner. Every page removes drafts older than
// a session lives and, when someone is signed in, everybody else's drafts; signing out, and the
// sign-in page shown after it (data-signed-out), remove them all.
(function () {
  "use strict";
  var PREFIX = "ecrf-draft:";
  var SKIP = { csrfmiddlewaretoken: true, password: true, loaded_version: true };
  var storage = window.localStorage;
  var body = document.body;
  var owner = body.getAttribute("data-draft-owner");
  var lifetime = Number(body.getAttribute("data-draft-lifetime")) * 1000;

  function draftKeys() {
    var keys = [];
    for (var i = 0; i < storage.length; i += 1) {
      var key = storage.key(i);
      if (key && key.indexOf(PREFIX) === 0) { keys.push(key); }
    }
    return keys;
  }

  function removeAll() {
    draftKeys().forEach(function (key) { storage.removeItem(key); });
  }

  function read(key) {
    try {
      var draft = JSON.parse(storage.getItem(key));
      return draft && typeof draft.savedAt === "number" && draft.fields ? draft : null;
    } catch (error) {
      return null;
    }
  }

  // A draft without an owner or a time (as stored before drafts had them) cannot be told apart
  // from another user's, so it goes too.
  function keep(key) {
    var draft = read(key);
    if (!draft || !(Date.now() - draft.savedAt <= lifetime)) { return false; }
    return !owner || key.indexOf(PREFIX + owner + ":") === 0;
  }

  if (body.hasAttribute("data-signed-out")) {
    removeAll();
  } else {
    draftKeys().forEach(function (key) {
      if (!keep(key)) { storage.removeItem(key); }
    });
  }

  document.querySelectorAll("form[data-sign-out]").forEach(function (form) {
    form.addEventListener("submit", removeAll);
  });

  // Drafts are written and read only for a signed-in user.
  if (!owner) { return; }

  function storageKey(draftKey) {
    return PREFIX + owner + ":" + draftKey;
  }

  document.querySelectorAll("[data-clear-draft]").forEach(function (el) {
    storage.removeItem(storageKey(el.getAttribute("data-clear-draft")));
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
    var key = storageKey(form.getAttribute("data-draft-key"));
    var saved = read(key);
    // After a refused save the server shows the typed values itself, with its messages.
    var refused = form.querySelector(".is-invalid, .invalid-feedback, .alert-danger");
    if (saved && !refused) {
      restore(form, saved.fields);
      var note = document.createElement("div");
      note.className = "alert alert-info draft-restored";
      note.textContent = "What you typed earlier in this form was not saved yet; it has been put back. Check it and save.";
      form.insertBefore(note, form.firstChild);
    }
    function store() {
      storage.setItem(key, JSON.stringify({ savedAt: Date.now(), fields: snapshot(form) }));
    }
    form.addEventListener("input", store);
    form.addEventListener("change", store);
    // Saving is the last thing the nurse did: a save refused because the session had ended
    // keeps the draft for a whole session lifetime from then, for her to sign in again.
    form.addEventListener("submit", store);
  });
})();
