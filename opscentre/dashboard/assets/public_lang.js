// The public view's language travels in its URL (?lang=en), never in a cookie. Dash fetches the
// page's layout from _dash-layout without the page's query string: add `lang` to that one request
// so the server draws the layout in the page's language. (Loaded by the console too, where the
// page has no ?lang= and nothing changes.)
(function () {
  var lang = new URLSearchParams(window.location.search).get("lang");
  if (!lang || !window.fetch) return;
  var fetchFirst = window.fetch;
  window.fetch = function (resource, init) {
    if (typeof resource === "string" && /_dash-layout$/.test(resource)) {
      resource += "?lang=" + encodeURIComponent(lang);
    }
    return fetchFirst.call(this, resource, init);
  };
})();
