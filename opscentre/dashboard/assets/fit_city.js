// Open the map fitted to the city: once per page, when the map first exists, fit it to the
// bounds the server put in layout.meta.city_bounds ([west, south, east, north]). Plotly records
// the move like an operator's pan (uirevision), so later live updates keep this view.
(function () {
  function fitWhenReady() {
    document.querySelectorAll(".js-plotly-plot").forEach(function (gd) {
      var full = gd._fullLayout;
      var map = full && full.map && full.map._subplot && full.map._subplot.map;
      var bounds = gd.layout && gd.layout.meta && gd.layout.meta.city_bounds;
      if (!map || !bounds || gd.__cityFitted || !map.loaded()) return;
      gd.__cityFitted = true;
      // originalEvent marks the move as a GUI edit, which plotly keeps across updates
      map.fitBounds([[bounds[0], bounds[1]], [bounds[2], bounds[3]]], {padding: {top: 56, bottom: 24, left: 24, right: 24}, animate: false},
                    {originalEvent: {type: "opscentre-fit"}});
    });
  }
  setInterval(fitWhenReady, 400);
})();
