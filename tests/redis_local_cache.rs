//! The per-instance cache of WeChat user tokens and profiles in front of `RedisStore`
//! (issue 29 item 2): a profile read on a hit costs no store operation, and a user token
//! refreshed on another instance is not used stale — the instance holding the old copy
//! drops it when WeChat rejects it, reads the store once more and retries, instead of
//! refreshing a second time.

mod common;
#[path = "support/counting_store.rs"]
mod counting_store;
#[path = "support/redis_server.rs"]
mod redis_server;

use std::{sync::Arc, time::Duration};

use common::*;
use counting_store::CountingStore;
use redis_server::RedisServer;
use wechat_auth::mock::MockWechat;

/// How long profiles are cached in these tests (so that they lapse quickly).
const USERINFO_TTL: Duration = Duration::from_secs(1);
/// Long enough for a profile cached at "now" to have lapsed (whole seconds are compared).
const LAPSE: Duration = Duration::from_millis(2100);

async fn instance(mock: &MockWechat, store: Arc<dyn wechat_auth::store::Store>) -> App {
    start(
        base_config(mock)
            .with_store(store)
            .with_userinfo_ttl(USERINFO_TTL),
    )
    .await
}

async fn profile_on(app: &App, b: &reqwest::Client) -> serde_json::Value {
    let (status, v) = get_json(b, &format!("{}/wechat-profile", app.url)).await;
    assert_eq!(status, 200, "{v}");
    v
}

#[tokio::test]
async fn a_cached_profile_costs_no_store_operation() {
    let Some(redis) = RedisServer::find() else {
        return;
    };
    let mock = MockWechat::start().await.unwrap();
    let store = CountingStore::around(Arc::new(
        redis
            .store()
            .await
            .with_prefix(redis_server::test_prefix("local-hit")),
    ));
    let app = start(base_config(&mock).with_store(store.clone())).await;
    let b = browser();
    let res = login(&app, &b, "?channel=website&return_to=/profile", "alice").await;
    assert_eq!(res.status(), 302);
    let (reads, writes) = (store.reads(), store.writes());
    for _ in 0..3 {
        let v = profile_on(&app, &b).await;
        assert!(v["profile"].is_string(), "{v}");
    }
    assert_eq!(
        (store.reads() - reads, store.writes() - writes),
        (0, 0),
        "the profile came from this instance's copy"
    );
    assert_eq!(mock.calls("sns/userinfo"), 1, "read once, at the login");
}

#[tokio::test]
async fn a_token_refreshed_on_b_is_not_used_stale_on_a() {
    let Some(redis) = RedisServer::find() else {
        return;
    };
    let mock = MockWechat::start().await.unwrap();
    let prefix = redis_server::test_prefix("local-refresh");
    let a = instance(&mock, Arc::new(redis.store().await.with_prefix(&prefix))).await;
    let b = instance(&mock, Arc::new(redis.store().await.with_prefix(&prefix))).await;
    let browser = browser();
    // Alice logs in on A: A keeps her tokens and profile itself, and in Redis.
    let res = login(&a, &browser, "?channel=website&return_to=/profile", "alice").await;
    assert_eq!(res.status(), 302);
    // The profile lapses, and WeChat's user token expires (our clock still thinks it good).
    tokio::time::sleep(LAPSE).await;
    mock.advance(Duration::from_secs(3 * 3600));
    // B reads the profile: WeChat refuses the token, B refreshes it (a new access token) and
    // keeps the new one in Redis. (The same session cookie is good on both instances.)
    let v = profile_on(&b, &browser).await;
    assert!(v["profile"].is_string(), "{v}");
    assert_eq!(mock.calls("sns/oauth2/refresh_token"), 1);
    // A still holds the old token, good by its own clock. WeChat refuses it; A must take
    // B's from Redis rather than refresh again.
    tokio::time::sleep(LAPSE).await;
    let v = profile_on(&a, &browser).await;
    assert!(v["profile"].is_string(), "{v}");
    assert_eq!(
        mock.calls("sns/oauth2/refresh_token"),
        1,
        "one refresh for the site: A used the token B refreshed"
    );
    // And A now holds the new token: the next read after the profile lapses is one call.
    tokio::time::sleep(LAPSE).await;
    let before = mock.calls("sns/userinfo");
    let v = profile_on(&a, &browser).await;
    assert!(v["profile"].is_string(), "{v}");
    assert_eq!(mock.calls("sns/userinfo") - before, 1);
    assert_eq!(mock.calls("sns/oauth2/refresh_token"), 1);
}
