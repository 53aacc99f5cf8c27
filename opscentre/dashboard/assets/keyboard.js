// Keyboard shortcuts for the layer toggles: Alt+<key> flips the toggle whose label carries
// data-layer-key="<key>" (shown in its tooltip). Focus moves to the checkbox, so Space works next.
document.addEventListener("keydown", function (event) {
  if (!event.altKey || event.ctrlKey || event.metaKey || !event.key) return;
  var target = document.querySelector('[data-layer-key="' + event.key.toLowerCase() + '"]');
  if (!target) return;
  event.preventDefault();
  var label = target.closest("label");
  var input = label ? label.querySelector("input") : null;
  (input || target).click();
  if (input) input.focus();
});
