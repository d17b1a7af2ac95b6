// A run's live log: the page renders the stored events, this follows the new ones over
// server-sent events (GET /api/runs/{id}/events, same cookie session) and reloads the page
// when the run has ended so its status, output and cost are shown as stored.
(function () {
  "use strict";
  var KINDS = ["status", "log", "model_call", "tool_call", "output", "runtime_error"];

  function pad(number) {
    return number < 10 ? "0" + number : String(number);
  }

  function clock(iso) {
    var at = new Date(iso);
    if (isNaN(at.getTime())) return "";
    return pad(at.getUTCHours()) + ":" + pad(at.getUTCMinutes()) + ":" + pad(at.getUTCSeconds());
  }

  function shown(data) {
    var text = JSON.stringify(data === undefined ? {} : data);
    return text.length > 2000 ? text.slice(0, 2000) + " …" : text;
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    // Text only: an event's content never becomes markup.
    node.textContent = text;
    return node;
  }

  function follow(log) {
    var state = document.querySelector("[data-run-log-state]");
    var after = parseInt(log.getAttribute("data-after") || "0", 10) || 0;
    var source = new EventSource(log.getAttribute("data-events-url") + "?after=" + after);

    function append(kind, message) {
      var payload;
      try {
        payload = JSON.parse(message.data);
      } catch (ignored) {
        return;
      }
      if (typeof payload.seq !== "number" || payload.seq <= after) return;
      after = payload.seq;
      var item = document.createElement("li");
      item.setAttribute("data-seq", String(payload.seq));
      item.appendChild(element("span", "log-seq", String(payload.seq)));
      item.appendChild(document.createTextNode(" "));
      var time = element("time", "", clock(payload.at));
      time.setAttribute("datetime", String(payload.at));
      item.appendChild(time);
      item.appendChild(document.createTextNode(" "));
      item.appendChild(element("span", "log-kind", kind));
      item.appendChild(document.createTextNode(" "));
      item.appendChild(element("code", "", shown(payload.data)));
      log.appendChild(item);
    }

    KINDS.forEach(function (kind) {
      source.addEventListener(kind, function (message) {
        append(kind, message);
      });
    });
    var ended = false;
    var reloading = false;

    function showEnded() {
      if (reloading) return;
      reloading = true;
      source.close();
      window.location.reload();
    }

    source.addEventListener("end", function () {
      ended = true;
      if (state) state.textContent = "The run has ended.";
      // The server closes the stream right after `end`; closing it from here first would abort
      // a response still arriving. The close shows up as an error event (below); this timer is
      // only a fallback.
      window.setTimeout(showEnded, 2000);
    });
    // Cancel posts through htmx and stays here: the log shows the status change, then reloads.
    document.addEventListener("htmx:afterRequest", function (event) {
      var form = event.target;
      if (form && form.hasAttribute && form.hasAttribute("data-cancel-run") && state) {
        state.textContent = event.detail.successful
          ? "Cancel requested; following until the run has stopped…"
          : "The cancel was refused; reload the page.";
      }
    });
    source.addEventListener("error", function () {
      if (ended) {
        // Closed by the server after `end`: stop the browser from reconnecting, then reload.
        showEnded();
        return;
      }
      // The browser reconnects on its own (resuming with Last-Event-ID) unless it gave up.
      if (source.readyState === EventSource.CLOSED && state) {
        state.textContent = "The live log stopped; reload the page to follow it again.";
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var log = document.querySelector("[data-run-log]");
    if (log && log.getAttribute("data-live") === "true") follow(log);
  });
})();
