// Tonlé NOC console: live fragments by server-sent events, TTL countdowns, apply progress. No framework.
(function () {
  "use strict";
  function fmt(seconds) {
    if (seconds <= 0) return "due now";
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = Math.floor(seconds % 60);
    return (h ? h + "h " : "") + (h || m ? m + "m " : "") + s + "s left";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-expires]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("data-expires"));
      if (!isNaN(at)) el.textContent = fmt((at - now) / 1000);
    });
  }
  function live() {
    var slots = document.querySelectorAll("[data-live]");
    if (!slots.length || !window.EventSource) return;
    var badge = document.getElementById("live");
    var es = new EventSource("/events");
    es.addEventListener("state", function (ev) {
      var frag = JSON.parse(ev.data);
      slots.forEach(function (el) {
        var html = frag[el.getAttribute("data-live")];
        if (typeof html === "string") el.innerHTML = html;  // rendered and escaped by the server (Jinja2)
      });
      tick();
    });
    es.onopen = function () { if (badge) badge.classList.add("on"); };
    es.onerror = function () { if (badge) badge.classList.remove("on"); };
  }
  function job() {
    var pre = document.getElementById("job-progress");
    if (!pre || !window.EventSource) return;
    var es = new EventSource("/jobs/" + encodeURIComponent(pre.getAttribute("data-job")) + "/events");
    es.addEventListener("job", function (ev) {
      var j = JSON.parse(ev.data);
      pre.textContent = j.progress.concat(j.out, j.err).join("\n");
      var st = document.getElementById("job-state");
      if (j.done) {
        st.textContent = "done, exit " + j.exit; st.className = j.exit === 0 ? "ok" : "bad";
        var out = document.getElementById("job-outcome");
        if (out) {
          out.textContent = (j.data && typeof j.data.outcome === "string") ? j.data.outcome : (j.exit === 0 ? "done" : "failed");
          out.className = st.className;
        }
        es.close();
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 1000); live(); job(); });
})();
