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
