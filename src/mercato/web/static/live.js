// Keeps a dashboard page current: on each chain event of the page's protocol (and entry),
// fetch the page again and swap in its <main id="content">, without a reload. The event's id
// ends up in document.body.dataset.lastEvent once the page shows it.
(function () {
  "use strict";
  var main = document.getElementById("content");
  if (!main || !window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }
  var query = new URLSearchParams();
  if (main.dataset.protocol) {
    query.set("protocol", main.dataset.protocol);
  }
  if (main.dataset.id) {
    query.set("id", main.dataset.id);
  }
  var url = "/api/events" + (query.toString() ? "?" + query.toString() : "");
  var source = new EventSource(url);
  var queue = Promise.resolve();

  function refresh(eventId) {
    return fetch(window.location.href, { headers: { Accept: "text/html" }, cache: "no-store" })
      .then(function (answer) {
        return answer.ok ? answer.text() : null;
      })
      .then(function (html) {
        if (html === null) {
          return;
        }
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.getElementById("content");
        var current = document.getElementById("content");
        if (fresh && current) {
          current.replaceWith(document.importNode(fresh, true));
        }
      })
      .catch(function () {
        // the next event fetches again
      })
      .then(function () {
        document.body.dataset.lastEvent = eventId;
      });
  }

  source.addEventListener("chain", function (message) {
    var eventId = message.lastEventId;
    queue = queue.then(function () {
      return refresh(eventId);
    });
  });
  window.addEventListener("pagehide", function () {
    source.close();
  });
})();
