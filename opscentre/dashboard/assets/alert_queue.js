// The alerts page's keys (pages/alerts.py): j / k choose the next / previous alert of the queue,
// a acknowledges the chosen one (the Acknowledge button, with whatever the note holds), n moves to
// the note. Off while typing in a field, and with Ctrl / Alt / Meta held. After an acknowledgement
// the queue forgets its choice; j / k go on from the row last chosen.
(function () {
  var last = -1;

  function typing(target) {
    if (!target || !target.closest) return false;
    return !!target.closest("input:not([type=radio]), textarea, select, [contenteditable=true], .Select, .dash-dropdown");
  }

  function radios() {
    return Array.prototype.slice.call(document.querySelectorAll(".alert-queue input[type=radio]"));
  }

  function choose(step) {
    var all = radios();
    if (!all.length) return;
    var at = all.findIndex(function (r) { return r.checked; });
    if (at < 0) at = last >= 0 ? Math.min(last, all.length - 1) : (step > 0 ? -1 : all.length);
    var next = Math.max(0, Math.min(all.length - 1, at + step));
    last = next;
    all[next].click();
    all[next].focus();
    var row = all[next].closest("label");
    if (row && row.scrollIntoView) row.scrollIntoView({block: "nearest"});
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.altKey || event.metaKey || !event.key || typing(event.target)) return;
    if (!document.querySelector(".alert-queue")) return;
    var key = event.key;
    if (key === "j" || key === "k") {
      event.preventDefault();
      choose(key === "j" ? 1 : -1);
    } else if (key === "a") {
      var button = document.getElementById("ack-button");
      if (!button || button.disabled || !radios().some(function (r) { return r.checked; })) return;
      event.preventDefault();
      button.click();
    } else if (key === "n") {
      var note = document.getElementById("ack-note");
      if (!note || note.disabled) return;
      event.preventDefault();
      note.focus();
    }
  });
})();
