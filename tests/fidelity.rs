//! Fidelity end to end: what the layer keeps is shaped by what WeChat documents — the
//! refresh_token lifetime per channel (protocol §21: 180 days for mobile apps, 30 for the
//! website and the Official Account), seen through a store that records every write's TTL.

mod common;
#[path = "support/counting_store.rs"]
mod counting_store;

use std::time::Duration;

use common::*;
use counting_store::CountingStore;
use serde_json::json;
use wechat_auth::mock::MockWechat;

const DAY: u64 = 24 * 3600;

/// The TTL of the user-token record the login wrote.
fn tokens_ttl(store: &CountingStore, appid: &str) -> Duration {
    store
        .written()
        .into_iter()
        .rev()
        .find(|(k, _)| k.starts_with(&format!("wechat-auth:{appid}:tokens:")))
        .map(|(_, ttl)| ttl)
        .expect("the login kept the user's tokens")
}

#[tokio::test]
async fn the_refresh_token_is_kept_as_long_as_its_channel_lets_it_live() {
    let mock = MockWechat::start().await.unwrap();
    let store = CountingStore::memory();
    let app = start(base_config(&mock).with_store(store.clone())).await;

    // Mobile app: 180 days.
    let mobile = mock.mobile().appid.clone();
    let code = mock.sdk_code(&mobile, "alice").unwrap();
    let res = reqwest::Client::new()
        .post(format!("{}/auth/wechat/app", app.url))
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(tokens_ttl(&store, &mobile), Duration::from_secs(180 * DAY));

    // Website and Official Account: 30 days.
    let res = login(&app, &browser(), "?channel=website", "bob").await;
    assert_eq!(res.status(), 302);
    assert_eq!(
        tokens_ttl(&store, &mock.website().appid),
        Duration::from_secs(30 * DAY)
    );
    let res = login(&app, &wechat_browser(), "?channel=oa", "carol").await;
    assert_eq!(res.status(), 302);
    assert_eq!(
        tokens_ttl(&store, &mock.official_account().appid),
        Duration::from_secs(30 * DAY)
    );
}
