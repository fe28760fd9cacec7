//! One person, one account: the website, the mobile app and the mini program all reach the
//! same account through the unionid.
//!
//! `cargo run --example unionid_linking` starts the mock WeChat and an app whose `on_login`
//! hook links or creates accounts, then logs alice in through all three channels and prints
//! what each login got: three different openids, one unionid, one account.
//!
//! The hook keys accounts on [`WechatUser::key`]: `unionid:…` when WeChat gives a unionid
//! (every app bound to the same Open Platform account), else `openid:APPID:…`. Here the
//! accounts live in a `HashMap`; in a real app it is a table with a unique index on that key,
//! and the hook does `INSERT … ON CONFLICT (wechat_key) DO NOTHING RETURNING id` (or a select
//! when nothing was inserted). Keep the mapping from channel openids too if you need to send
//! messages through one app later (a template message needs the Official Account's openid).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::Router;
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use wechat_auth::{LoginRefused, WechatAuthLayer, WechatConfig, WechatUser, mock::MockWechat};

#[derive(Default)]
struct Accounts {
    by_key: HashMap<String, u64>,
}

impl Accounts {
    /// Links `user` to its account, creating it on first sight.
    fn link(&mut self, user: &WechatUser) -> u64 {
        let next = self.by_key.len() as u64 + 1;
        *self.by_key.entry(user.key()).or_insert(next)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mock = MockWechat::start().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);

    let accounts = Arc::new(Mutex::new(Accounts::default()));
    let hook = accounts.clone();
    let cfg = WechatConfig::builder()
        .with_public_url(&url)
        .with_session_secret(session_secret())
        .with_wechat_bases(mock.api_base(), mock.open_base(), mock.mp_base())
        .with_website_app(&mock.website().appid, &mock.website().secret)
        .with_mobile_app(&mock.mobile().appid, &mock.mobile().secret)
        .with_mini_program(&mock.mini_program().appid, &mock.mini_program().secret)
        .with_on_login(move |user: WechatUser| {
            let accounts = hook.clone();
            async move {
                let id = accounts
                    .lock()
                    .map_err(|_| LoginRefused::new("accounts unavailable"))?
                    .link(&user);
                Ok(Some(format!("account-{id}")))
            }
        })
        .build()?;
    let app = Router::new().layer(WechatAuthLayer::new(cfg));
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("app: {url}");

    // 1. The website: a browser goes through WeChat's QR page and back.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()?;
    let to_wechat = browser
        .get(format!("{url}/auth/wechat/login?channel=website"))
        .send()
        .await?;
    let wechat_page = header(&to_wechat, "location").replace("#wechat_redirect", "");
    let back = browser
        .get(format!("{wechat_page}&mock_user=alice&mock_action=approve"))
        .send()
        .await?;
    browser.get(header(&back, "location")).send().await?;
    let website: Value = browser
        .get(format!("{url}/auth/wechat/me"))
        .send()
        .await?
        .json()
        .await?;

    // 2. The mobile app: the OpenSDK gave it a code.
    let code = mock.sdk_code(&mock.mobile().appid, "alice")?;
    let mobile = post(&format!("{url}/auth/wechat/app"), json!({ "code": code })).await?;

    // 3. The mini program: wx.login() gave it a js_code.
    let code = mock.sdk_code(&mock.mini_program().appid, "alice")?;
    let mini = post(
        &format!("{url}/auth/wechat/miniprogram"),
        json!({ "code": code }),
    )
    .await?;

    println!(
        "{:<14} {:<30} {:<30} account",
        "channel", "openid", "unionid"
    );
    for user in [&website, &mobile["user"], &mini["user"]] {
        println!(
            "{:<14} {:<30} {:<30} {}",
            user["channel"].as_str().unwrap_or("?"),
            user["openid"].as_str().unwrap_or("?"),
            user["unionid"].as_str().unwrap_or("-"),
            user["subject"].as_str().unwrap_or("-"),
        );
    }
    let count = accounts.lock().map(|a| a.by_key.len()).unwrap_or(0);
    println!("accounts created: {count}");
    Ok(())
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn post(url: &str, body: Value) -> Result<Value, reqwest::Error> {
    reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await?
        .json()
        .await
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
