// When the unit of a row changes, limits still showing the previous unit's site range follow
// to the new unit's range (the server applies the same rule on save).
(function () {
  "use strict";
  var ranges = JSON.parse(document.getElementById("unit-ranges").textContent);
  document.querySelectorAll("#lab-grid select[name$='-unit']").forEach(function (select) {
    var test = select.name.slice(0, -"-unit".length);
    var lln = document.getElementsByName(test + "-lln")[0];
    var uln = document.getElementsByName(test + "-uln")[0];
    var previous = select.value;
    select.addEventListener("change", function () {
      var before = (ranges[test] || {})[previous] || ["", ""];
      var after = (ranges[test] || {})[select.value] || ["", ""];
      if (lln.value === before[0] && uln.value === before[1]) {
        lln.value = after[0];
        uln.value = after[1];
      }
      previous = select.value;
    });
  });
})();
