/* Repeatable table rows: add and remove in the browser. Without JavaScript the form still works:
   the "Lägg till rad" button posts and the server adds a row; an empty row is ignored on save. */
(function () {
  "use strict";
  function renumber(row, index) {
    row.querySelectorAll("[name], [id], label[for]").forEach(function (el) {
      ["name", "id", "for", "aria-describedby"].forEach(function (attr) {
        var v = el.getAttribute(attr);
        if (v) { el.setAttribute(attr, v.replace(/^([a-z_]+)-\d+-/, "$1-" + index + "-")); }
      });
    });
  }
  function clear(row) {
    row.querySelectorAll("input, textarea, select").forEach(function (el) {
      if (el.type === "checkbox" || el.type === "radio") { el.checked = false; }
      else if (el.tagName === "SELECT") { el.selectedIndex = 0; }
      else if (el.type !== "hidden") { el.value = ""; }
    });
    row.querySelectorAll(".errors").forEach(function (el) { el.remove(); });
  }
  function removeButton(row) {
    var cell = row.querySelector(".row-actions");
    if (!cell || cell.querySelector("button")) { return; }
    var b = document.createElement("button");
    b.type = "button"; b.className = "link"; b.textContent = document.documentElement.lang === "en" ? "Remove" : "Ta bort";
    b.addEventListener("click", function () {
      var body = row.parentNode;
      if (body.rows.length > 1) { row.remove(); } else { clear(row); }
      Array.prototype.forEach.call(body.rows, renumber);
    });
    cell.appendChild(b);
  }
  document.querySelectorAll("table[data-rows]").forEach(function (table) {
    var body = table.tBodies[0];
    Array.prototype.forEach.call(body.rows, removeButton);
    var add = document.querySelector('button.add-row[value="' + table.dataset.rows + '"]');
    if (!add) { return; }
    add.addEventListener("click", function (ev) {
      if (!body.rows.length) { return; }  // let the server add the first row
      ev.preventDefault();
      var row = body.rows[body.rows.length - 1].cloneNode(true);
      clear(row);
      row.querySelector(".row-actions").innerHTML = "";
      body.appendChild(row);
      renumber(row, body.rows.length - 1);
      removeButton(row);
      var first = row.querySelector("input:not([type=hidden]), select, textarea");
      if (first) { first.focus(); }
    });
  });
}());
