//! Website QR login (网站应用微信登录), the smallest complete app.
//!
//! `cargo run --example website` (`PORT`, default 3001), then open the printed URL: `/` is protected, so the
//! browser goes to WeChat's QR page (here the mock's), and comes back signed in.
//!
//! Against the real WeChat, set `WECHAT_PUBLIC_URL`, `WECHAT_SESSION_SECRET`,
//! `WECHAT_WEBSITE_APP_ID` and `WECHAT_WEBSITE_APP_SECRET`, and register the public URL's
//! host as the website app's authorization callback domain (授权回调域).

use axum::{Router, routing::get};
use wechat_auth::{WechatAuthLayer, WechatConfig, WechatUser, mock::MockWechat};

async fn home(user: WechatUser) -> String {
    format!(
        "hello {} (openid {}, unionid {:?})",
        user.nickname.as_deref().unwrap_or("?"),
        user.openid,
        user.unionid
    )
}

// A `main` that returns `Result`: a refused configuration prints its message, e.g.
// `Error: no public URL: set WECHAT_PUBLIC_URL …`, and the exit status is 1.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // With the real WeChat's settings, check them before taking the port.
    let real = match std::env::var("WECHAT_WEBSITE_APP_ID") {
        Ok(_) => Some(WechatConfig::from_env()?),
        Err(_) => None,
    };
    let listener = listen().await?;
    let public_url = format!("http://{}", listener.local_addr()?);

    let (cfg, _mock) = if let Some(cfg) = real {
        (cfg, None)
    } else {
        let mock = MockWechat::start().await?;
        let cfg = WechatConfig::builder()
            .with_public_url(&public_url)
            .with_session_secret(session_secret())
            .with_wechat_bases(mock.api_base(), mock.open_base(), mock.mp_base())
            .with_website_app(&mock.website().appid, &mock.website().secret)
            .build()?;
        println!("mock wechat: {}", mock.url());
        (cfg, Some(mock))
    };

    // A store that does not answer (WECHAT_REDIS_URL) ends the start with what failed.
    cfg.check_store().await?;
    let app = Router::new()
        .route("/", get(home))
        .layer(WechatAuthLayer::new(cfg));
    println!("app: {public_url}");
    axum::serve(listener, app).await?;
    Ok(())
}

/// The listener on `PORT` (default 3001; `0` = any free port), or a message that says
/// what to change.
async fn listen() -> Result<tokio::net::TcpListener, Box<dyn std::error::Error>> {
    let port = match std::env::var("PORT") {
        Ok(p) => p
            .trim()
            .parse::<u16>()
            .map_err(|_| format!("PORT must be a port number (0-65535), got {p:?}"))?,
        Err(_) => 3001,
    };
    tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| {
            format!("cannot listen on 127.0.0.1:{port}: {e}; set PORT to a free port").into()
        })
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
