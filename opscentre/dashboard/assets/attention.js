// The console's chime (components/attention.py): while #attention has the class "attention-alarm"
// (the server's word: a critical alert is firing and nobody acknowledged it) and this screen has not
// muted it, a short two-tone chime plays every few seconds, made with the Web Audio API (no sound
// file). The state is on the element: data-chime = ringing | muted | silent. The mute toggle is
// per screen (localStorage). Browsers keep audio suspended until the page has been clicked once;
// the state is kept either way.
(function () {
  var MUTE_KEY = "opscentre.chime.muted";
  var EVERY_MS = 4000;
  var audio = null;
  var timer = null;

  function muted() {
    try { return window.localStorage.getItem(MUTE_KEY) === "1"; } catch (e) { return false; }
  }

  function setMuted(value) {
    try {
      if (value) window.localStorage.setItem(MUTE_KEY, "1"); else window.localStorage.removeItem(MUTE_KEY);
    } catch (e) { /* storage refused: the toggle lasts this page only */ }
  }

  function chime() {
    var AudioContext = window.AudioContext || window.webkitAudioContext;
    if (!AudioContext) return;
    try {
      if (!audio) audio = new AudioContext();
      if (audio.state === "suspended") audio.resume();
      var start = audio.currentTime;
      [880, 660].forEach(function (frequency, i) {
        var tone = audio.createOscillator();
        var gain = audio.createGain();
        tone.type = "sine";
        tone.frequency.value = frequency;
        gain.gain.setValueAtTime(0.0001, start + i * 0.25);
        gain.gain.exponentialRampToValueAtTime(0.3, start + i * 0.25 + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, start + i * 0.25 + 0.22);
        tone.connect(gain).connect(audio.destination);
        tone.start(start + i * 0.25);
        tone.stop(start + i * 0.25 + 0.24);
      });
    } catch (e) { /* no audio device: the state still says ringing */ }
  }

  function update() {
    var el = document.getElementById("attention");
    if (!el) return;
    var alarm = el.classList.contains("attention-alarm");
    var isMuted = muted();
    var state = alarm ? (isMuted ? "muted" : "ringing") : "silent";
    var button = document.getElementById("attention-mute");
    if (button) {
      button.setAttribute("aria-pressed", isMuted ? "true" : "false");
      var label = el.getAttribute(isMuted ? "data-label-unmute" : "data-label-mute");
      if (label && button.textContent !== label) button.textContent = label;
    }
    var text = el.querySelector(".attention-text");
    var wanted = el.getAttribute("data-text-" + (isMuted && !alarm ? "muted" : state));
    if (text && wanted && text.textContent !== wanted) text.textContent = wanted;
    if (el.getAttribute("data-chime") === state) return;
    el.setAttribute("data-chime", state);
    if (state === "ringing") {
      chime();
      if (!timer) timer = window.setInterval(chime, EVERY_MS);
    } else if (timer) {
      window.clearInterval(timer);
      timer = null;
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target && event.target.closest ? event.target.closest("#attention-mute") : null;
    if (audio && audio.state === "suspended") audio.resume();
    if (!button) return;
    setMuted(!muted());
    update();
  });
  window.addEventListener("storage", function (event) { if (event.key === MUTE_KEY) update(); });

  var watching = null;
  function watch() {
    var el = document.getElementById("attention");
    if (el === watching) return;
    watching = el;
    if (el) {
      new MutationObserver(update).observe(el, {attributes: true, attributeFilter: ["class"]});
      update();
    }
  }
  // Dash draws the layout after this script runs, and may redraw it: look for the element.
  new MutationObserver(watch).observe(document.documentElement, {childList: true, subtree: true});
  watch();
})();
