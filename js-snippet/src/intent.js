// intent.js: the tracking snippet. What it sends, and why, is in ../README.md.
// It must never break the host page: the set-up runs in one try, and every send in another (the
// only step that handles caller data); the listeners do arithmetic on numbers the browser gives.
(() => {
  try {
    var d = document,
      n = navigator,
      loc = location,
      old = self.intent,
      s = d.currentScript,
      data = s.dataset,
      api = data.api || new URL("/api/event", s.src),
      // Not counted: file:// pages, automated browsers, and Do-Not-Track / Global Privacy Control
      // when the tag asks for it. Local development is left to the site's `domains` on the
      // collector, which refuses an Origin it does not list.
      off =
        !/^http/.test(loc.protocol) ||
        (n.webdriver && !("allowAutomation" in data)) ||
        ("respectDnt" in data && (n.doNotTrack == 1 || n.globalPrivacyControl)),
      // The page being viewed: its URL and path, max scroll depth 0-100, visible ms not yet sent,
      // and since when it is visible (false while hidden).
      url,
      path,
      depth,
      visible = 0,
      since,
      now = Date.now,
      // text/plain is a CORS "simple" request (no preflight); the collector reads it as JSON.
      send = (o) => {
        try {
          // The opt-out is read at every send, so it works at once; where the browser blocks
          // site storage altogether, reading it throws and nothing is sent either.
          if (!off && localStorage.intent_ignore != "true") {
            o.site = data.site;
            o.url = url;
            o = JSON.stringify(o);
            n.sendBeacon(api, o) || fetch(api, { method: "POST", body: o, keepalive: true }).catch(() => 0);
          }
        } catch {
          // swallowed: props that do not serialise, blocked storage; never the host page's problem
        }
      },
      mark = () => (since = !d.hidden && now()),
      scroll = () => {
        // The bottom of the viewport as a percentage of the document; overscroll is capped.
        depth = Math.max(depth, Math.min(100, (((scrollY + innerHeight) * 100) / d.documentElement.scrollHeight) | 0));
      },
      flush = () => {
        scroll();
        visible += since && now() - since;
        mark();
        if (visible) send({ type: "engagement", engaged_ms: visible, scroll: depth });
        visible = 0;
      },
      page = (referrer) => {
        url = loc.href;
        path = loc.pathname;
        depth = 0;
        send({ type: "pageview", title: d.title, referrer });
        scroll();
      },
      // The next page: the last one's engagement, then a view with the last URL as referrer.
      next = () => page(url, flush()),
      // SPA navigation counts when the path changed, checked a tick after the history call: the
      // new title is set by then, a redirect (push then replace) counts once, and state-only or
      // same-path updates never count.
      nav = () => setTimeout(() => loc.pathname != path && next()),
      intent = (type, a, b) => {
        try {
          type == "pageview"
            ? next()
            : // identify: only the domain leaves the browser, never the address
              send(type == "identify" ? { type, domain: (a?.email || a).split("@").pop() } : { type, name: a, props: b });
        } catch {
          // a call with arguments of the wrong shape does nothing
        }
      };
    // A second copy of the tag (or a bundle run twice) must not count the page again.
    if (old?.l) return;
    intent.l = 1;
    self.intent = intent;
    for (const k of ["pushState", "replaceState"]) {
      const f = history[k];
      history[k] = (...a) => (nav(), f.apply(history, a));
    }
    addEventListener("popstate", nav);
    addEventListener("scroll", scroll);
    // Left (or put in the back/forward cache): the clock stops until the page is shown again.
    addEventListener("pagehide", () => (flush(), (since = 0)));
    // Hidden: send what was seen so far; visible again: the clock restarts.
    d.addEventListener("visibilitychange", flush);
    // Restored from the back/forward cache: a new view of the page.
    addEventListener("pageshow", (e) => e.persisted && page(d.referrer, mark()));
    page(d.referrer, mark());
    old?.q?.map((args) => intent(...args));
  } catch {
    // never throw into the host page
  }
})();
