//! The whole crate in one runnable app: `cargo run --example demo`.
//!
//! With no configuration it starts the mock WeChat on loopback and an app that uses it, and
//! prints both addresses. Open the app, pick a login channel, approve as one of the mock's
//! users, and you land on `/profile`. "Message code" logs in through the mock's unverified
//! subscription account: a second layer (prefix `/auth/message`, `WECHAT_OA_VERIFIED=false`)
//! beside the main one, signing sessions with the same key. With `WECHAT_*` variables set (see the README) it uses
//! those apps and hosts instead: the real WeChat, or a shared `mock_server`.
//!
//! `PORT` picks the app's port (default 3000), `MOCK_PORT` the mock's (default: any free
//! port); `RUST_LOG=wechat_auth=debug` shows the flows.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, extract::State, response::Html, routing::get};
use wechat_auth::{
    BrowserKind, DouyinUser, Identity, LoginRefused, WechatAuthLayer, WechatConfigBuilder,
    WechatHandle, WechatUser, WecomCorp, WecomSuite, is_phone,
    mock::{MockConfig, MockWechat},
};

/// The demo's "database": one account per person, keyed on the unionid.
type Accounts = Arc<Mutex<HashMap<String, u64>>>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "wechat_auth=info".into()),
        )
        .init();
    // The layer's metrics (wechat_auth::metrics) as Prometheus text at /metrics.
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    wechat_auth::metrics::describe();

    // Every startup error ends `main` with a message that says what to fix (a refused
    // configuration's `Debug` is its message), and the exit status 1.
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .trim()
            .parse()
            .map_err(|_| format!("PORT must be a port number (0-65535), got {p:?}"))?,
        Err(_) => 3000,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| {
            format!("cannot listen on 127.0.0.1:{port}: {e}; set PORT to a free port (PORT=0: any)")
        })?;
    let app_url = format!("http://{}", listener.local_addr()?);

    // One session key for every layer of the demo: a session one of them signs, the other
    // accepts.
    let secret = session_secret();
    // Real settings when the environment has them, else our own mock WeChat.
    let configured =
        std::env::var("WECHAT_WEBSITE_APP_ID").is_ok() || std::env::var("WECHAT_OA_APP_ID").is_ok();
    let (builder, mock) = if configured {
        let mut b = WechatConfigBuilder::from_env()?;
        if std::env::var("WECHAT_PUBLIC_URL").is_err() {
            b = b.with_public_url(app_url.clone());
        }
        if std::env::var("WECHAT_SESSION_SECRET").is_err() {
            b = b.with_session_secret(secret.clone());
        }
        (b, None)
    } else {
        // MOCK_PORT pins the mock's port (handy for scripts); default: any free port.
        let mock = match std::env::var("MOCK_PORT") {
            Ok(p) => {
                let port: u16 = p
                    .trim()
                    .parse()
                    .map_err(|_| format!("MOCK_PORT must be a port number (0-65535), got {p:?}"))?;
                MockWechat::start_on(([127, 0, 0, 1], port).into(), MockConfig::new())
                    .await
                    .map_err(|e| {
                        format!("the mock WeChat cannot listen on 127.0.0.1:{port}: {e}; set MOCK_PORT to a free port")
                    })?
            }
            Err(_) => MockWechat::start().await?,
        };
        let oa = mock.official_account();
        // The other WECHAT_* settings still apply (WECHAT_REDIS_URL keeps the state in Redis:
        // build with `--features redis`; without it, startup says so).
        let mut b = WechatConfigBuilder::from_env()?
            .with_public_url(app_url.clone())
            .with_wechat_bases(mock.api_base(), mock.open_base(), mock.mp_base())
            .with_website_app(&mock.website().appid, &mock.website().secret)
            .with_official_account(&oa.appid, &oa.secret)
            .with_oa_push(
                oa.token.clone().unwrap_or_default(),
                oa.encoding_aes_key.as_deref(),
            )
            .with_mobile_app(&mock.mobile().appid, &mock.mobile().secret)
            .with_mini_program(&mock.mini_program().appid, &mock.mini_program().secret)
            // 抖音登录: the mock's Douyin app and mini-app.
            .with_douyin_app(
                &mock.douyin_app().client_key,
                &mock.douyin_app().client_secret,
            )
            .with_douyin_miniapp(&mock.douyin_miniapp().appid, &mock.douyin_miniapp().secret)
            .with_douyin_bases(mock.douyin_open_base(), mock.douyin_miniapp_base());
        // WeCom (企业微信): the mock's corp app and its third-party suite.
        let corp = mock.wecom_corp();
        b = b
            .with_wecom_bases(mock.url(), mock.url())
            .with_wecom_corp(WecomCorp::new(
                &corp.corp_id,
                &corp.agent_id,
                corp.secret.clone(),
            ));
        if let Some(suite) = mock.wecom_suite() {
            b = b.with_wecom_suite(WecomSuite::new(
                &suite.suite_id,
                suite.suite_secret.clone(),
                suite.token.clone(),
                suite.encoding_aes_key.clone(),
            ));
        }
        if std::env::var("WECHAT_SESSION_SECRET").is_err() {
            b = b.with_session_secret(secret.clone());
        }
        (b, Some(mock))
    };

    let accounts = Accounts::default();
    let hook_accounts = accounts.clone();
    let cfg = builder
        .with_public_path("/")
        .with_public_path("/metrics")
        // The message-code layer's endpoints pass this layer's guard.
        .with_public_path(format!("{MESSAGE_PREFIX}/*"))
        .with_on_login_identity(move |identity: Identity, _signed_in: Option<Identity>| {
            let accounts = hook_accounts.clone();
            async move {
                // One account per person across every channel of a provider: key on the
                // unionid (WeChat), corp + UserID (WeCom) or union_id (Douyin).
                let mut accounts = accounts.lock().unwrap();
                let next = accounts.len() as u64 + 1;
                let id = *accounts.entry(identity.key()).or_insert(next);
                Ok::<_, LoginRefused>(Some(format!("account-{id}")))
            }
        })
        .build()?;
    // A store that does not answer ends the start here, with its URL (password hidden) and
    // what failed, unless WECHAT_REDIS_START=retry asks to start anyway.
    cfg.check_store().await?;
    let prefix = cfg.prefix().to_owned();

    // The mock pushes scan events to our push URL, as WeChat would to the configured one.
    let phone = mock.as_ref().map(|m| {
        let push = format!("{app_url}{prefix}/push");
        if let Err(e) = m.set_push_url(&m.official_account().appid, Some(&push)) {
            eprintln!("mock push URL: {e}");
        }
        // The mock's mini program POSTs to our miniprogram/scan/open (who opened the code,
        // answered with who asked and a token) and then its confirm/cancel to miniprogram/scan.
        if let Err(e) = m.set_mini_program_server(&m.mini_program().appid, Some(&app_url)) {
            eprintln!("mock mini program server: {e}");
        }
        // WeCom's command callback: the suite_ticket arrives now (then every 10 minutes).
        if let Some(suite) = m.wecom_suite() {
            let push = format!("{app_url}{prefix}/wecom/push");
            if let Err(e) = m.set_push_url(&suite.suite_id, Some(&push)) {
                eprintln!("mock WeCom command callback: {e}");
            }
            // Once the app listens: ask the mock to push a ticket now.
            let ask = format!("{}/mock/wecom/suite_ticket", m.url());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if let Err(e) = reqwest::Client::new().post(ask).body("{}").send().await {
                    eprintln!("mock WeCom suite_ticket: {e}");
                }
            });
        }
        format!("{}/mock/phone", m.url())
    });

    // With the mock: message-code login through its unverified subscription account, served
    // by a second layer under its own prefix (a site has one Official Account per layer).
    let message = match &mock {
        Some(m) => Some(message_layer(m, &app_url, &prefix, &secret).await?),
        None => None,
    };
    let message_start = if message.is_some() {
        format!("{MESSAGE_PREFIX}/scan?via=message&return_to=/profile")
    } else {
        // Real settings: the configured Official Account offers it too (it needs its push
        // token; with WECHAT_OA_VERIFIED=false it is the account's only scan login).
        format!("{prefix}/scan?via=message&return_to=/profile")
    };

    let mut app = Router::new()
        .route("/", get(landing))
        .route("/profile", get(profile))
        .route(
            "/metrics",
            get(move || std::future::ready(metrics.render())),
        );
    if let Some(message) = message {
        app = app.layer(message);
    }
    let app = app
        .layer(WechatAuthLayer::new(cfg))
        .with_state(Arc::new(Links {
            phone: phone.clone(),
            message: message_start,
        }));

    println!("app: {app_url}");
    if let Some(mock) = &mock {
        println!("mock wechat: {}", mock.url());
        println!("  approve as alice, bob or carol on the mock's login page;");
        println!(
            "  for scan login, \"scan\" with the mock's phone: {}/mock/phone",
            mock.url()
        );
        println!("  then open the account's reply there and tap 确认登录 (phone confirmation)");
        println!(
            "  for message-code login ({app_url}{MESSAGE_PREFIX}/scan?via=message, the mock's unverified 订阅号 {}):",
            mock.unverified_account().appid
        );
        println!("  send the code in a user's chat with the 订阅号 on the phone page, then send 1");
        println!(
            "  for scripts: POST {0}/mock/sdk/code (an SDK code for the app or mini program), GET {0}/mock/config, GET {0}/mock/calls",
            mock.url()
        );
    }
    println!("endpoints:");
    for (methods, path, what) in endpoints(&prefix) {
        println!("  {methods:<10} {path:<38} {what}");
    }
    serve(listener, app).await
}

/// Every endpoint the demo serves: its own pages, then the layer's (under `prefix`).
fn endpoints(prefix: &str) -> Vec<(&'static str, String, &'static str)> {
    let own = [
        (
            "GET",
            "/".to_owned(),
            "this demo's landing page: pick a login",
        ),
        (
            "GET",
            "/profile".to_owned(),
            "protected: who you are (signed out: starts the login)",
        ),
        (
            "GET",
            "/metrics".to_owned(),
            "the layer's metrics as Prometheus text",
        ),
    ];
    let layer = [
        (
            "GET",
            "/login",
            "start a login (?return_to=/path&channel=website|oa|scan|douyin)",
        ),
        (
            "GET",
            "/callback",
            "WeChat (or Douyin) sends the browser back here (?code&state)",
        ),
        (
            "GET",
            "/scan",
            "the scan page (?via=miniprogram: a mini program code; ?via=message: a code to send)",
        ),
        ("POST", "/scan", "start a scan for your own page (JSON)"),
        (
            "GET",
            "/scan/{id}",
            "a scan's status (?wait=SECONDS long-polls)",
        ),
        ("GET", "/scan/{id}/qr.svg", "the Official Account's QR code"),
        ("GET", "/scan/{id}/code.png", "the mini program code"),
        (
            "GET",
            "/embed",
            "JSON for a QR embedded in your own page (sets the state cookie)",
        ),
        (
            "GET",
            "/embed.js",
            "WechatAuth.embed(element, {returnTo}) and WechatAuth.popup({returnTo})",
        ),
        (
            "GET, POST",
            "/scan/{id}/confirm",
            "the phone confirms or cancels a scan (opened inside WeChat)",
        ),
        (
            "GET, POST",
            "/push",
            "the Official Account's message push URL",
        ),
        (
            "GET, POST",
            "/wecom/push",
            "the WeCom third-party app's command callback (suite_ticket, authorizations)",
        ),
        ("POST", "/app", "mobile app login: {code} -> bearer token"),
        (
            "POST",
            "/miniprogram",
            "mini program login: {code} -> bearer token",
        ),
        (
            "POST",
            "/miniprogram/scan/open",
            "the mini program a code opened: {scene, code} -> who asked + a token",
        ),
        (
            "POST",
            "/miniprogram/scan",
            "the mini program's answer to a code scan: {scene, token, decision}",
        ),
        (
            "POST",
            "/douyin/app",
            "Douyin app login: {code} (OpenSDK) -> bearer token",
        ),
        (
            "POST",
            "/douyin/miniapp",
            "Douyin mini-app login: {code} (tt.login) -> bearer token",
        ),
        (
            "GET",
            "/douyin/profile",
            "the signed-in Douyin user's profile, kept server-side",
        ),
        (
            "POST",
            "/douyin/renew",
            "renew the Douyin refresh token (at most 5 times)",
        ),
        ("POST", "/refresh", "a native bearer token -> a fresh one"),
        ("GET", "/me", "the current user as JSON"),
        ("POST", "/logout", "end the session (?return_to=/)"),
    ];
    own.into_iter()
        .chain(
            layer
                .into_iter()
                .map(|(m, p, w)| (m, format!("{prefix}{p}"), w)),
        )
        .collect()
}

/// How long a client may take to send a request's headers. The layer bounds the bodies it
/// reads itself (`with_body_timeout`); the headers are the server's job.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// `axum::serve` (HTTP/1.1), plus a header read timeout, which `axum::serve` does not
/// offer: a client that opens a connection and trickles its headers is cut off instead of
/// holding it for ever.
async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
) -> Result<(), Box<dyn std::error::Error>> {
    use hyper_util::{
        rt::{TokioIo, TokioTimer},
        service::TowerToHyperService,
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors and the like: wait a moment, as axum::serve does.
                eprintln!("accept: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        // The peer address, as `into_make_service_with_connect_info` would give it: the
        // layer bounds code exchanges per client by it.
        let app = app
            .clone()
            .layer(axum::Extension(axum::extract::ConnectInfo(peer)));
        let connection = http
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
            .with_upgrades();
        tokio::spawn(async move {
            // A client that goes away mid-request, or is too slow, is not the demo's problem.
            let _ = connection.await;
        });
    }
}

/// The session signing key: `WECHAT_SESSION_SECRET` when set (sessions survive a restart),
/// else a fresh random one per run, so nobody can forge a session for a demo left running.
fn session_secret() -> String {
    use rand::{Rng, distr::Alphanumeric};
    match std::env::var("WECHAT_SESSION_SECRET") {
        Ok(s) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => rand::rng()
            .sample_iter(&Alphanumeric)
            .take(48)
            .map(char::from)
            .collect(),
    }
}

const STYLE: &str = r#"<style>
body{font-family:-apple-system,"PingFang SC","Microsoft YaHei",system-ui,sans-serif;max-width:640px;margin:40px auto;padding:0 16px;color:#1f2329}
a.button,button{display:inline-block;background:#07c160;color:#fff;border:0;border-radius:8px;padding:10px 18px;margin:6px 6px 6px 0;text-decoration:none;font-size:15px;cursor:pointer}
a.secondary{background:#576b95} dt{color:#86909c;font-size:13px;margin-top:10px} dd{margin:2px 0 0;font-family:ui-monospace,monospace;word-break:break-all}
img{width:64px;height:64px;border-radius:8px}
</style>"#;

/// Where the landing page sends people: the mock's phone page, and the message-code login.
struct Links {
    phone: Option<String>,
    message: String,
}

/// The demo's second layer: the mock's unverified subscription account
/// (`WECHAT_OA_VERIFIED=false`) under [`MESSAGE_PREFIX`], for message-code login. Same public
/// URL and session key as the main layer; its push URL is pointed at it.
async fn message_layer(
    mock: &MockWechat,
    app_url: &str,
    main_prefix: &str,
    secret: &str,
) -> Result<WechatAuthLayer, Box<dyn std::error::Error>> {
    let sub = mock.unverified_account();
    let mut b = WechatConfigBuilder::from_env()?
        .with_public_url(app_url)
        .with_prefix(MESSAGE_PREFIX)
        .with_wechat_bases(mock.api_base(), mock.open_base(), mock.mp_base())
        .with_official_account(&sub.appid, &sub.secret)
        .with_oa_push(
            sub.token.clone().unwrap_or_default(),
            sub.encoding_aes_key.as_deref(),
        )
        .with_oa_verified(false)
        .with_oa_name("模拟订阅号 · mock subscription account")
        .with_public_path("/")
        .with_public_path("/metrics")
        .with_public_path(format!("{main_prefix}/*"));
    if std::env::var("WECHAT_SESSION_SECRET").is_err() {
        b = b.with_session_secret(secret);
    }
    let cfg = b.build()?;
    cfg.check_store().await?;
    let push = format!("{app_url}{MESSAGE_PREFIX}/push");
    if let Err(e) = mock.set_push_url(&sub.appid, Some(&push)) {
        eprintln!("mock push URL (subscription account): {e}");
    }
    Ok(WechatAuthLayer::new(cfg))
}

/// Where the message-code layer serves its endpoints.
const MESSAGE_PREFIX: &str = "/auth/message";

async fn landing(
    State(links): State<Arc<Links>>,
    user: Option<Identity>,
    headers: axum::http::HeaderMap,
) -> Html<String> {
    // A phone browser outside WeChat cannot scan a QR code on its own screen: it gets the
    // mini program link (the layer's classifier, the README's "Which login each browser gets").
    let ua = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let kind = BrowserKind::of(ua, None);
    let on_phone = !kind.in_wechat() && is_phone(ua);
    let phone = links
        .phone
        .as_deref()
        .map(|p| {
            format!(
                "<p>Scan login: the QR code stands for a real phone; here, open the mock's \
                 <a href=\"{}\" target=\"_blank\">phone page</a> and press \"scan as …\", \
                 then open the Official Account's reply in that user's chat and tap 确认登录; \
                 for a mini program code, press \"确认 as …\" under \"Mini program codes\" \
                 there; for a message code, type it in a user's chat with the 订阅号 there, \
                 send it, then send 1.</p>",
                escape(p)
            )
        })
        .unwrap_or_default();
    let who = match user {
        Some(u) => format!(
            "<p>Signed in as <b>{}</b> ({}). <a href=\"/profile\">Your profile</a></p>",
            escape(&display_name(&u)),
            u.provider()
        ),
        None => "<p>Not signed in.</p>".to_owned(),
    };
    if on_phone {
        return Html(format!(
            r#"<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>wechat-auth demo</title>{STYLE}
<h1>wechat-auth demo</h1>{who}
<p>You are on a phone, outside WeChat: a QR code on this screen cannot be scanned, so this
phone logs in through the site's mini program. The button opens a page with an
"打开微信登录 · Open WeChat to log in" link; confirm in the mini program and this browser is
signed in.</p>
<a class="button" id="phone-login" href="/auth/wechat/login?return_to=/profile">Log in with WeChat (phone)</a>
<a class="button secondary" id="message-code" href="{message}">Message code (send it from WeChat)</a>
<a class="button secondary" id="wecom-login" href="/auth/wechat/login?return_to=/profile&amp;channel=wecom">企业微信登录 · WeCom</a>
<p>With the mock, the mini program is the mock's phone page: open the link there with
"Open a link".</p>
<p><a href="/profile">/profile</a> is protected: visiting it signed out starts the login.</p>"#,
            message = escape(&links.message),
        ));
    }
    Html(format!(
        r#"<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>wechat-auth demo</title>{STYLE}
<h1>wechat-auth demo</h1>{who}
<p>Log in with WeChat:</p>
<a class="button secondary" id="phone-link" href="/auth/wechat/login?return_to=/profile&amp;channel=link">Phone browser: the mini program link (what a phone outside WeChat gets)</a>
<a class="button" href="/auth/wechat/login?return_to=/profile&amp;channel=website">Website QR login</a>
<a class="button secondary" href="/auth/wechat/login?return_to=/profile&amp;channel=oa">Official Account (as inside WeChat)</a>
<a class="button" href="/auth/wechat/scan?return_to=/profile">Scan the Official Account's QR code</a>
<a class="button secondary" href="/auth/wechat/scan?return_to=/profile&amp;via=miniprogram">Scan a mini program code</a>
<a class="button" id="message-code" href="{message}">Message code (no verified account needed)</a>
<a class="button secondary" id="douyin" href="/auth/wechat/login?return_to=/profile&amp;channel=douyin">抖音登录 · Log in with Douyin</a>
<button type="button" id="popup">Website login in a popup</button>
<a class="button" id="wecom-login" href="/auth/wechat/login?return_to=/profile&amp;channel=wecom">企业微信登录 · WeCom</a>
<a class="button secondary" id="wecom-suite" href="/auth/wechat/login?return_to=/profile&amp;channel=wecom&amp;kind=suite">企业微信 · third-party app</a>
<p>Or scan WeChat's QR right here (embedded, <code>WechatAuth.embed</code>):</p>
<div id="wechat-qr" style="width:300px;height:400px"></div>
<p id="popup-result"></p>
<script src="/auth/wechat/embed.js"></script>
<script>
  WechatAuth.embed("wechat-qr", {{ returnTo: "/profile" }}).catch(function (e) {{
    document.getElementById("wechat-qr").textContent = "Embedded QR unavailable: " + e.message;
  }});
  document.getElementById("popup").addEventListener("click", function () {{
    WechatAuth.popup({{ returnTo: "/profile" }}).then(function (r) {{
      if (!r.ok) {{ document.getElementById("popup-result").textContent = "Popup login ended: " + r.code; }}
    }});
  }});
</script>
{phone}
<p>Mobile app and mini program logins are JSON endpoints (<code>POST /auth/wechat/app</code>,
<code>POST /auth/wechat/miniprogram</code>): see the README's curl walk-through.</p>
<p><a href="/profile">/profile</a> is protected: visiting it signed out starts the login.</p>"#,
        message = escape(&links.message),
    ))
}

/// A name to greet someone by, whatever provider they signed in through.
fn display_name(id: &Identity) -> String {
    match id {
        Identity::Wechat(u) => u.nickname.clone().unwrap_or_else(|| u.openid.clone()),
        Identity::Wecom(m) => m
            .user_id
            .clone()
            .or_else(|| m.openid.clone())
            .map(|who| format!("{who} @ {} (企业微信)", m.corp_id))
            .unwrap_or_default(),
        Identity::Douyin(u) => u.nickname.clone().unwrap_or_else(|| u.open_id.clone()),
        other => other.key(),
    }
}

async fn profile(id: Identity, wechat: WechatHandle) -> Html<String> {
    match id {
        Identity::Douyin(user) => douyin_profile(&user),
        Identity::Wechat(user) => wechat_profile(user, wechat).await,
        id => Html(format!(
            r#"<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Profile</title>{STYLE}
<h1>{name}</h1>
<dl><dt>provider</dt><dd>{provider}</dd><dt>key</dt><dd>{key}</dd><dt>account (from on_login)</dt><dd>{subject}</dd></dl>
<form method="post" action="/auth/wechat/logout?return_to=/"><button>Log out</button></form>
<p><a href="/">Home</a></p>"#,
            name = escape(&display_name(&id)),
            provider = escape(id.provider().as_str()),
            key = escape(&id.key()),
            subject = escape(id.subject().unwrap_or("—")),
        )),
    }
}

/// A Douyin user's page: the ids Douyin gives a login (never uid, short_id or unique_id).
fn douyin_profile(user: &DouyinUser) -> Html<String> {
    let row =
        |k: &str, v: Option<&str>| format!("<dt>{k}</dt><dd>{}</dd>", escape(v.unwrap_or("—")));
    let avatar = user
        .avatar_url
        .as_deref()
        .map(|a| format!(r#"<img src="{}" alt="avatar">"#, escape(a)))
        .unwrap_or_default();
    Html(format!(
        r#"<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Profile</title>{STYLE}
<h1>{avatar} {nickname} (抖音)</h1>
<dl>{open_id}{union_id}{client_key}{subject}</dl>
<p><a href="/auth/wechat/douyin/profile">The profile kept server-side (JSON)</a></p>
<form method="post" action="/auth/wechat/logout?return_to=/"><button>Log out</button></form>
<p><a href="/">Home</a></p>"#,
        nickname = escape(user.nickname.as_deref().unwrap_or("(no nickname)")),
        open_id = row("open_id", Some(&user.open_id)),
        union_id = row("union_id", user.union_id.as_deref()),
        client_key = row("client_key", Some(&user.client_key)),
        subject = row("account (from on_login)", user.subject.as_deref()),
    ))
}

async fn wechat_profile(user: WechatUser, wechat: WechatHandle) -> Html<String> {
    // The profile is kept server-side; this shows it can be read again later.
    let fresh = wechat.profile(&user).await.ok().flatten();
    let avatar = user
        .avatar_url
        .as_deref()
        .map(|a| format!(r#"<img src="{}" alt="avatar">"#, escape(a)))
        .unwrap_or_default();
    let row =
        |k: &str, v: Option<&str>| format!("<dt>{k}</dt><dd>{}</dd>", escape(v.unwrap_or("—")));
    Html(format!(
        r#"<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Profile</title>{STYLE}
<h1>{avatar} {nickname}</h1>
<dl>{openid}{unionid}{appid}{channel}{subject}{fresh}</dl>
<form method="post" action="/auth/wechat/logout?return_to=/"><button>Log out</button></form>
<p><a href="/">Home</a></p>"#,
        nickname = escape(user.nickname.as_deref().unwrap_or("(no nickname)")),
        openid = row("openid", Some(&user.openid)),
        unionid = row("unionid", user.unionid.as_deref()),
        appid = row("appid", Some(&user.appid)),
        channel = row("channel", Some(user.channel.as_str())),
        subject = row("account (from on_login)", user.subject.as_deref()),
        fresh = row(
            "profile kept server-side",
            fresh.as_ref().map(|p| p.nickname.as_str())
        ),
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
