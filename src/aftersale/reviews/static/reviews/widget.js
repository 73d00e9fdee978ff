/* aftersale reviews widget: <div data-aftersale-reviews data-store="SLUG" data-product="REF">
   plus this script. Fetches the HTML fragment from the aftersale server that served this file
   (no other host is contacted), and keeps sorting and paging inside the widget. */
(function () {
  "use strict";
  var script = document.currentScript;
  var origin = script ? new URL(script.src, location.href).origin : location.origin;

  function load(box, params) {
    var store = box.getAttribute("data-store");
    var product = box.getAttribute("data-product");
    if (!store || !product) return;
    var url = new URL(origin + "/reviews/w/" + encodeURIComponent(store) + "/" +
      encodeURIComponent(product) + "/fragment");
    var lang = box.getAttribute("data-lang") || document.documentElement.lang || "";
    if (lang) url.searchParams.set("lang", lang);
    Object.keys(params || {}).forEach(function (k) { url.searchParams.set(k, params[k]); });
    box.setAttribute("aria-busy", "true");
    fetch(url.toString(), { credentials: "omit" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
      .then(function (html) {
        box.innerHTML = html;
        box.removeAttribute("aria-busy");
        if (params && (params.page || params.sort)) {
          var heading = box.querySelector(".asr-title");
          if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
        }
      })
      .catch(function () { box.removeAttribute("aria-busy"); });
  }

  function wire(box) {
    box.addEventListener("click", function (event) {
      var link = event.target.closest("a[data-sort], a[data-page]");
      if (!link || !box.contains(link)) return;
      event.preventDefault();
      var current = box.querySelector(".asr-sort [aria-current]");
      var sort = link.getAttribute("data-sort") ||
        (current && current.getAttribute("data-sort")) || "newest";
      load(box, { sort: sort, page: link.getAttribute("data-page") || "1" });
    });
  }

  function start() {
    var boxes = document.querySelectorAll("[data-aftersale-reviews]");
    Array.prototype.forEach.call(boxes, function (box) {
      wire(box);
      if (!box.querySelector(".asr-reviews")) load(box, {});
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
