// Wall mode (/wall, pages/wall.py): the side panel's cycle. Each turn sets the panel's class to
// show its next section (CSS hides the others): nothing is drawn again, the map least of all.
// The period is the page's (CYCLE_S), or ?cycle=SECONDS on the URL (at least 1 s).
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  opscentreWall: {
    cycle: function (n) {
      var count = document.querySelectorAll("#wall-side > .wall-panel").length || 1;
      return "wall-side wall-show-" + ((n || 0) % count);
    },
    period: function (search) {
      var seconds = parseFloat(new URLSearchParams(search || "").get("cycle"));
      if (!isFinite(seconds)) return window.dash_clientside.no_update;
      return Math.round(Math.max(1, seconds) * 1000);
    },
  },
});

// Dash keeps every change of a callback's input made in the browser as undo history
// (store.history.past), with no bound: each dcc.Interval tick adds an entry — the map's tick every
// 2 s (every 250 ms while a new version is built), the wall's cycle — so a screen left open for
// days grows by tens of thousands of entries a day, and each new entry copies the whole list. The
// console shows no undo/redo, and Dash itself reads only the last entry (to revert after a
// component fails to render), so every HISTORY_TRIM_MS the list is cut to its last HISTORY_KEPT
// entries. Assets load on every page, so this holds for every page, not only the wall
// (`window.opscentreHistoryKept` overrides the count: the browser test sets a small one).
(function () {
  var HISTORY_KEPT = 50;
  var HISTORY_TRIM_MS = 10000;
  setInterval(function () {
    var kept = window.opscentreHistoryKept || HISTORY_KEPT;
    (window.dash_stores || []).forEach(function (store) {
      var past = store.getState().history && store.getState().history.past;
      if (past && past.length > kept) past.splice(0, past.length - kept);
    });
  }, HISTORY_TRIM_MS);
})();

// A wall runs for days. Its page's JS heap stays level (bench wall), but Chromium's renderer keeps
// memory outside it (Blink's garbage-collected heap and malloc grew tens of MB an hour in `bench
// wall`'s memory-infra dumps), so the wall reloads itself every RELOAD_HOURS (6; `?reload=HOURS`,
// 0: never) — and only when the page answers as itself: a wall never reloads into an error page
// or the sign-in page (a server down, a session ended); it asks again every RETRY_MS until then
// (`window.opscentreWallRetryMs` overrides it: the browser test sets a short one).
// The reload is a fresh start of the same URL: the map, the stage and the panels come back from
// the server as on any first load.
(function () {
  var RELOAD_HOURS = 6;
  var RETRY_MS = 60000;
  if (!/\/wall\/?$/.test(window.location.pathname)) return;
  var asked = parseFloat(new URLSearchParams(window.location.search).get("reload"));
  var hours = isFinite(asked) ? asked : RELOAD_HOURS;
  if (!(hours > 0)) return;
  function tryReload() {
    fetch(window.location.href, {cache: "no-store", credentials: "same-origin", redirect: "follow"})
      .then(function (response) {
        if (response.ok && !response.redirected) {
          window.location.reload();
        } else {
          later();
        }
      })
      .catch(later);
  }
  function later() {
    setTimeout(tryReload, window.opscentreWallRetryMs || RETRY_MS);
  }
  setTimeout(tryReload, hours * 3600 * 1000);
})();
