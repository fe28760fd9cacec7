/* wechat-auth embed.js — the website login on the site's own page: WeChat's QR embedded in an
   element, or a popup window. Served by the layer itself; loads nothing from other hosts.

     <div id="login"></div>
     <script src="/auth/wechat/embed.js"></script>
     <script>
       WechatAuth.embed("login", { returnTo: "/account", selfRedirect: false, style: "black" });
       WechatAuth.wecom("wecom-login", { returnTo: "/account" });   // 企业微信 panel
       button.onclick = () => WechatAuth.popup({ returnTo: "/account" }).then(r => r.ok || alert(r.code));
     </script>
*/
(function () {
  "use strict";
  var me = document.currentScript;
  var prefix = "/auth/wechat";
  if (me && me.src) {
    prefix = new URL(me.src, location.href).pathname.replace(/\/embed\.js$/, "");
  }
  function here() { return location.pathname + location.search; }
  function query(params) {
    return Object.keys(params)
      .filter(function (k) { return params[k] !== undefined && params[k] !== null; })
      .map(function (k) { return encodeURIComponent(k) + "=" + encodeURIComponent(String(params[k])); })
      .join("&");
  }
  /* Where a QR code on this screen is no use: inside WeChat (its authorize page is blank in
     an iframe, and WeChat intercepts top-level navigations only) and on a phone (it cannot
     scan its own screen). The same markers as the layer's classifier (WeCom: wxwork/). */
  var ua = (navigator.userAgent || "");
  var inWechat = /MicroMessenger/i.test(ua) && !/wxwork\//i.test(ua);
  var onPhone = /OpenHarmony/i.test(ua) ? !/\(PC;/i.test(ua)
    : /iPhone|iPad|iPod|Android|Mobile|Windows Phone/i.test(ua);
  function loginUrl(returnTo) { return prefix + "/login?" + query({ return_to: returnTo }); }
  /* Moves the top window (this page may itself be in a frame) to `url`. */
  function goTop(url) {
    try { if (window.top && window.top !== window) { window.top.location.assign(url); return; } } catch (e) {}
    location.assign(url);
  }
  function element(el) {
    var found = typeof el === "string" ? (document.getElementById(el) || document.querySelector(el)) : el;
    if (!found) { throw new Error("WechatAuth.embed: no element " + el); }
    return found;
  }

  /* Draws WeChat's QR login into `el` (an element or its id). selfRedirect false (default):
     WeChat moves the whole page to the callback; true: the callback runs in the frame, then
     moves this page to returnTo. Resolves with the iframe. Inside WeChat it moves the top
     window to the login instead (Official Account authorization; never resolves); on a
     phone it draws a link to the login (the mini program link page) and resolves with it. */
  function embed(el, opts) {
    opts = opts || {};
    var target = element(el);
    if (inWechat) {
      goTop(loginUrl(opts.returnTo || here()));
      return new Promise(function () {});
    }
    if (onPhone) {
      var a = document.createElement("a");
      a.id = "wechat-auth-open";
      a.className = "button";
      a.href = loginUrl(opts.returnTo || here());
      a.target = "_top";
      a.textContent = opts.linkText || "微信登录 · Log in with WeChat";
      target.replaceChildren(a);
      return Promise.resolve(a);
    }
    var url = prefix + "/embed?" + query({
      return_to: opts.returnTo || here(),
      self_redirect: opts.selfRedirect ? "true" : "false",
      style: opts.style,
      stylelite: opts.stylelite ? 1 : undefined,
      fast_login: opts.fastLogin === false ? 0 : undefined
    });
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) { throw new Error(body.message || body.error || ("HTTP " + r.status)); }
          return body;
        });
      })
      .then(function (cfg) {
        var frame = document.createElement("iframe");
        frame.src = cfg.iframe_url;
        frame.title = opts.title || "WeChat login";
        frame.width = String(opts.width || 300);
        frame.height = String(opts.height || 400);
        frame.setAttribute("frameborder", "0");
        frame.setAttribute("scrolling", "no");
        frame.setAttribute("sandbox", "allow-scripts allow-top-navigation allow-same-origin");
        frame.setAttribute("allow", "local-network-access");
        frame.style.border = "0";
        target.replaceChildren(frame);
        return frame;
      });
  }

  /* Draws WeCom's (企业微信) login panel into `el`: the layer's `embed?channel=wecom` gives
     the wwlogin/sso/login page for the corp (opts.corp) or the suite (opts.kind: "suite"),
     framed here without WeCom's script; its callback runs in the frame and moves this page.
     Inside the WeCom client it moves the top window to the in-app login instead. */
  function wecom(el, opts) {
    opts = opts || {};
    var target = element(el);
    var params = { channel: "wecom", return_to: opts.returnTo || here(), corp: opts.corp, kind: opts.kind };
    if (/wxwork\//i.test(ua)) {
      goTop(prefix + "/login?" + query(params));
      return new Promise(function () {});
    }
    return fetch(prefix + "/embed?" + query(params), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) { throw new Error(body.message || body.error || ("HTTP " + r.status)); }
          return body;
        });
      })
      .then(function (cfg) {
        var frame = document.createElement("iframe");
        frame.src = cfg.url;
        frame.title = opts.title || "企业微信登录 · WeCom login";
        frame.width = String(opts.width || 400);
        frame.height = String(opts.height || 460);
        frame.setAttribute("frameborder", "0");
        frame.setAttribute("sandbox", "allow-scripts allow-top-navigation allow-same-origin allow-forms");
        frame.style.border = "0";
        target.replaceChildren(frame);
        return frame;
      });
  }

  /* A fresh random nonce: 128 bits from crypto.getRandomValues, as 32 hex digits. */
  function freshNonce() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b < 16 ? "0" : "") + b.toString(16); }).join("");
  }

  /* Opens the login in a popup window. Resolves with {ok, code, message, returnTo} once the
     popup reports (or {ok: false, code: "closed"} when it was closed); on success the page
     then moves to returnTo (or reloads), unless opts.navigate is false. A blocked popup
     falls back to the full-page login. Each popup carries a random nonce through its login:
     only a message echoing it is taken (any page can open this site's callback and make it
     broadcast a result). */
  function popup(opts) {
    opts = opts || {};
    var returnTo = opts.returnTo || here();
    if (inWechat || onPhone) {
      /* No popups there: WeChat shows an authorize page only at the top level, and a phone
         logs in through the link page in this very tab. */
      goTop(loginUrl(returnTo));
      return new Promise(function () {});
    }
    var nonce = freshNonce();
    var win = null;
    try {
      win = window.open(prefix + "/login?" + query({ display: "popup", return_to: returnTo, nonce: nonce }),
        "wechat-auth-login",
        "popup=yes,width=" + (opts.width || 520) + ",height=" + (opts.height || 640));
    } catch (e) { win = null; }
    if (!win) {
      location.assign(prefix + "/login?" + query({ return_to: returnTo }));
      return new Promise(function () {});
    }
    return new Promise(function (resolve) {
      var done = false, channel = null, timer = null;
      function ours(data) {
        return !!data && typeof data === "object" && data.type === "wechat-auth" && data.nonce === nonce;
      }
      function finish(data) {
        if (done) { return; }
        done = true;
        window.removeEventListener("message", onMessage);
        if (channel) { channel.close(); }
        clearInterval(timer);
        try { if (!win.closed) { win.close(); } } catch (e) {}
        var result = { ok: data.ok === true, code: data.code, message: data.message, returnTo: data.return_to };
        resolve(result);
        if (result.ok && opts.navigate !== false) {
          var to = data.return_to || returnTo;
          if (to === here()) { location.reload(); } else { location.assign(to); }
        }
      }
      function onMessage(e) {
        if (e.origin !== location.origin || e.source !== win || !ours(e.data)) { return; }
        finish(e.data);
      }
      window.addEventListener("message", onMessage);
      if (typeof BroadcastChannel === "function") {
        channel = new BroadcastChannel("wechat-auth");
        channel.onmessage = function (e) { if (ours(e.data)) { finish(e.data); } };
      }
      timer = setInterval(function () {
        var closed = false;
        try { closed = win.closed; } catch (e) {}
        if (closed) {
          clearInterval(timer);
          setTimeout(function () { finish({ ok: false, code: "closed" }); }, 1000);
        }
      }, 400);
    });
  }

  window.WechatAuth = { embed: embed, popup: popup, prefix: prefix, inWechat: inWechat, onPhone: onPhone };
  window.WechatAuth.wecom = wecom;
})();
