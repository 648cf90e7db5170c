// Shows the unit and the planned dose of the chosen agent next to the dose given.
(function () {
  "use strict";
  var agents = JSON.parse(document.getElementById("agent-data").textContent);
  var select = document.getElementById("id_agent");
  var unit = document.getElementById("dose-unit");
  var planned = document.getElementById("planned-dose");
  function show() {
    var agent = agents.find(function (a) { return a.id === select.value; });
    unit.textContent = agent ? agent.unit : "unit";
    planned.textContent = !agent ? "choose an agent" : agent.planned ? "planned " + agent.planned + " " + agent.unit : "no planned dose";
  }
  select.addEventListener("change", show);
  show();
})();
