//! Sites for real-browser tests that need production-like origins: the app on `localhost`
//! (its own site), the mock WeChat on `127.0.0.1` (another site), and a foreign page on
//! `127.0.0.1` (another origin) that opens the app's popup and listens for what it says.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use axum::{
    Json, Router,
    http::header,
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
};
use wechat_auth::{HandleError, WechatAuthLayer, WechatConfigBuilder, WechatHandle, WechatUser};

/// `GET /consent-profile`: the user's WeChat profile as JSON, or a redirect into the consent
/// login `WechatHandle::profile` hands out when there is none yet.
pub async fn consent_profile(user: WechatUser, wechat: WechatHandle) -> Response {
    match wechat.profile(&user).await {
        Ok(p) => Json(serde_json::json!({ "nickname": p.map(|p| p.nickname) })).into_response(),
        Err(HandleError::ConsentRequired { login_url }) => Redirect::to(&login_url).into_response(),
        Err(e) => Response::new(e.to_string().into()),
    }
}

/// A served site; the server stops on drop.
pub struct Site {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Site {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The app's landing page: an element for the embedded QR (`?embed=false|true` draws it)
/// and a popup button; `window.__popup` holds what `WechatAuth.popup` resolved with. Its
/// CSP allows frames from the open-platform base (and this site, for `self_redirect`).
const LANDING: &str = r#"<!doctype html><html><head><meta charset="utf-8"><title>landing</title></head>
<body><h1>landing</h1><div id="qr"></div><button id="popup" type="button">popup</button>
<pre id="result"></pre>
<script src="/auth/wechat/embed.js"></script>
<script>
  var p = new URLSearchParams(location.search);
  if (p.has("embed")) {
    WechatAuth.embed("qr", { returnTo: "/profile", selfRedirect: p.get("embed") === "true" });
  }
  document.getElementById("popup").addEventListener("click", function () {
    WechatAuth.popup({ returnTo: "/profile" }).then(function (r) {
      window.__popup = r;
      document.getElementById("result").textContent = JSON.stringify(r);
    });
  });
</script></body></html>"#;

/// Starts the app behind the layer on `localhost`: `/` (the landing page), `/profile` (the
/// user as JSON), `/consent-profile` (the WeChat profile, asking for consent when needed).
pub async fn app_on_localhost(builder: WechatConfigBuilder) -> Site {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("http://localhost:{port}");
    let cfg = builder.with_public_url(url.clone()).build().unwrap();
    let csp = format!(
        "default-src 'none'; script-src 'self' 'unsafe-inline'; connect-src 'self'; frame-src {} 'self'; frame-ancestors 'none'",
        cfg.open_platform_origin()
    );
    let app = Router::new()
        .route(
            "/",
            get(move || {
                let csp = csp.clone();
                async move { ([(header::CONTENT_SECURITY_POLICY, csp)], Html(LANDING)) }
            }),
        )
        .route(
            "/profile",
            get(|user: WechatUser| async move { Json(user) }),
        )
        .route("/consent-profile", get(consent_profile))
        .layer(WechatAuthLayer::new(cfg));
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Site { url, task }
}

/// A foreign page on `127.0.0.1` that opens `popup_url` on a click and records every
/// `message` it receives in `window.__got`.
pub async fn foreign_opener(popup_url: &str) -> Site {
    let page = format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>foreign</title></head><body>
<button id="open" type="button">open</button>
<script>
  window.__got = [];
  window.addEventListener("message", function (e) {{ window.__got.push({{ origin: e.origin, data: e.data }}); }});
  document.getElementById("open").addEventListener("click", function () {{
    window.__win = window.open({url}, "wechat-auth-login", "popup=yes,width=500,height=600");
  }});
</script></body></html>"#,
        url = serde_json::to_string(popup_url).unwrap()
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route(
        "/",
        get(move || {
            let page = page.clone();
            async move { Html(page) }
        }),
    );
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Site { url, task }
}

/// An attacker's page on `127.0.0.1` (another site): a click opens `target` in a new
/// window with `noopener`, so the page opened there has no opener to talk to.
pub async fn noopener_opener(target: &str) -> Site {
    let page = format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>attacker</title></head><body>
<button id="go" type="button">go</button>
<script>
  document.getElementById("go").addEventListener("click", function () {{
    window.__opened = window.open({url}, "_blank", "noopener") === null;
  }});
</script></body></html>"#,
        url = serde_json::to_string(target).unwrap()
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route(
        "/",
        get(move || {
            let page = page.clone();
            async move { Html(page) }
        }),
    );
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Site { url, task }
}
