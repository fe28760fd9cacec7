//! Official Account web authorization (公众号网页授权), for pages opened inside WeChat.
//!
//! `cargo run --example official_account` (`PORT`, default 3002). The layer sends a browser
//! whose User-Agent contains `MicroMessenger` to `connect/oauth2/authorize`;
//! `WECHAT_OA_SCOPE=snsapi_base` logs in silently with the openid only, `snsapi_userinfo`
//! (the default) asks for consent and also yields nickname, avatar and unionid. A desktop browser can force the flow with
//! `/auth/wechat/login?channel=oa` (the mock does not check the User-Agent).
//!
//! Against the real WeChat, set `WECHAT_PUBLIC_URL`, `WECHAT_SESSION_SECRET`,
//! `WECHAT_OA_APP_ID`, `WECHAT_OA_APP_SECRET`, and register the public URL's host as the
//! Official Account's web authorization domain (网页授权域名).
//!
//! The account's other messages go to an `on_push` hook that answers text messages (the push
//! URL is `/auth/wechat/push`). With the mock, play a user's message with
//! `curl -s MOCK/mock/message -H 'content-type: application/json' -d '{"user":"alice","text":"hi"}'`:
//! the report's `reply` is the hook's answer, sealed in safe mode and opened by the mock.

use axum::{Router, routing::get};
use wechat_auth::{
    WechatAuthLayer, WechatConfig, WechatUser, client::OaScope, mock::MockWechat, push::PushReply,
};

/// Answers users' text messages; everything else gets no reply (`success`).
async fn on_push(push: wechat_auth::push::OpenedPush) -> Option<PushReply> {
    (push.message.msg_type == "text").then(|| PushReply::text("收到，谢谢！We got your message."))
}

async fn home(user: Option<WechatUser>) -> String {
    match user {
        Some(u) => format!(
            "hello {} ({})",
            u.nickname.as_deref().unwrap_or("?"),
            u.openid
        ),
        None => "open /me inside WeChat (or /auth/wechat/login?channel=oa) to log in".into(),
    }
}

async fn me(user: WechatUser) -> String {
    format!(
        "openid {} unionid {:?} via {}",
        user.openid, user.unionid, user.channel
    )
}

// A refused configuration prints its message (`Error: …`) and exits with status 1.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // With the real WeChat's settings, check them before taking the port.
    let real = match std::env::var("WECHAT_OA_APP_ID") {
        Ok(_) => Some(
            wechat_auth::WechatConfigBuilder::from_env()?
                .with_on_push(on_push)
                .build()?,
        ),
        Err(_) => None,
    };
    let listener = listen().await?;
    let public_url = format!("http://{}", listener.local_addr()?);

    let (cfg, _mock) = if let Some(cfg) = real {
        (cfg, None)
    } else {
        let mock = MockWechat::start().await?;
        let oa = mock.official_account();
        let cfg = WechatConfig::builder()
            .with_public_url(&public_url)
            .with_session_secret(session_secret())
            .with_wechat_bases(mock.api_base(), mock.open_base(), mock.mp_base())
            .with_official_account(&oa.appid, &oa.secret)
            .with_oa_scope(OaScope::UserInfo)
            .with_oa_push(
                oa.token.clone().unwrap_or_default(),
                oa.encoding_aes_key.as_deref(),
            )
            .with_on_push(on_push)
            .with_public_path("/")
            .build()?;
        mock.set_push_url(&oa.appid, Some(&format!("{public_url}/auth/wechat/push")))?;
        println!("mock wechat: {}", mock.url());
        (cfg, Some(mock))
    };

    // A store that does not answer (WECHAT_REDIS_URL) ends the start with what failed.
    cfg.check_store().await?;
    let app = Router::new()
        .route("/", get(home))
        .route("/me", get(me))
        .layer(WechatAuthLayer::new(cfg));
    println!("app: {public_url}");
    axum::serve(listener, app).await?;
    Ok(())
}

/// The listener on `PORT` (default 3002; `0` = any free port), or a message that says
/// what to change.
async fn listen() -> Result<tokio::net::TcpListener, Box<dyn std::error::Error>> {
    let port = match std::env::var("PORT") {
        Ok(p) => p
            .trim()
            .parse::<u16>()
            .map_err(|_| format!("PORT must be a port number (0-65535), got {p:?}"))?,
        Err(_) => 3002,
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
