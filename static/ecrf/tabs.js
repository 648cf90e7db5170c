// Opens the casebook tab named in the address (#aes, #doses, #labs, #audit), so that a save
// that returns to the casebook shows the record just saved.
(function () {
  "use strict";
  var hash = window.location.hash;
  if (!hash) { return; }
  var button = document.querySelector('[data-bs-target="' + hash + '"]');
  if (button && window.bootstrap) { window.bootstrap.Tab.getOrCreateInstance(button).show(); }
})();
