//! Managed Redis as the clouds sell it: TLS with a private CA, ACL users, and Redis Cluster.
//! Each test starts the kind of server it needs (`tests/support/redis_modes.rs`), whatever
//! `WECHAT_TEST_REDIS` says; the contract and two-instance suites run on every kind through
//! that variable (see `.ci/run`).
#![cfg(feature = "redis")]

mod common;
#[path = "support/redis_server.rs"]
mod redis_server;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use common::*;
use redis_server::{Mode, RedisServer, Resp};
use wechat_auth::{
    mock::MockWechat,
    store::{RedisStore, Store, StoreError},
};

fn tls_port_url(server: &RedisServer, userinfo: &str) -> String {
    server
        .url()
        .replacen("rediss://", &format!("rediss://{userinfo}"), 1)
}

#[tokio::test]
async fn tls_trusts_the_given_ca_and_refuses_a_server_it_cannot_verify() {
    let Some(server) = RedisServer::spawn_as(Mode::Tls) else {
        return;
    };
    // With the CA: a working store over TLS.
    let store = server.store().await;
    store
        .set("k", b"over tls".to_vec(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(store.get("k").await.unwrap(), Some(b"over tls".to_vec()));
    assert!(format!("{store:?}").contains("tls: true"));

    // The system roots do not know the test CA: refused, quickly, saying why.
    let started = Instant::now();
    let err = RedisStore::connect(server.url()).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));

    // A CA file that is not the server's is refused the same way.
    let dir = redis_server::target_tmp().join(format!("other-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (_, other_ca) = redis_server::modes::write_certificates(&dir);
    let wrong = RedisStore::connect_lazy(server.url())
        .unwrap()
        .with_ca_file(&other_ca)
        .unwrap();
    let err = wrong.check().await.unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);

    // Plain text on the TLS port gets nowhere.
    let plain = RedisStore::connect_lazy(&server.url().replacen("rediss://", "redis://", 1))
        .unwrap()
        .with_command_timeout(Duration::from_millis(500));
    assert!(plain.get("k").await.is_err());
}

#[tokio::test]
async fn an_acl_user_logs_in_over_tls_and_its_password_is_never_shown() {
    let Some(server) = RedisServer::spawn_as(Mode::Tls) else {
        return;
    };
    let reply = server.command(&[
        "ACL",
        "SETUSER",
        "wechat",
        "on",
        ">acl-Secret-9",
        "~*",
        "&*",
        "+@all",
    ]);
    assert_eq!(reply, Resp::Simple("OK".into()));
    let ca = server.ca_file().unwrap().to_owned();

    let good = RedisStore::connect_lazy(&tls_port_url(&server, "wechat:acl-Secret-9@"))
        .unwrap()
        .with_ca_file(&ca)
        .unwrap();
    good.check().await.unwrap();
    good.set("acl", b"1".to_vec(), Duration::from_secs(5))
        .await
        .unwrap();
    let shown = format!("{good:?}");
    assert!(shown.contains("wechat:***@"), "{shown}");
    assert!(!shown.contains("acl-Secret-9"), "{shown}");
    // The user really is the ACL user (WHOAMI over the store's own connection is not
    // exposed; the server's client list is).
    let clients = server.command(&["CLIENT", "LIST"]).text().unwrap();
    assert!(clients.contains("user=wechat"), "{clients}");

    let bad = RedisStore::connect_lazy(&tls_port_url(&server, "wechat:not-the-password@"))
        .unwrap()
        .with_ca_file(&ca)
        .unwrap();
    let err = bad.check().await.unwrap_err();
    let text = err.to_string();
    assert!(!text.contains("not-the-password"), "{text}");
    assert!(text.contains("wechat:***@"), "{text}");
    let err = bad.get("k").await.unwrap_err().to_string();
    assert!(!err.contains("not-the-password"), "{err}");
}

/// The least an ACL user needs: the layer's keys (`~*wechat-auth:*`) and its pub/sub
/// pattern (`&*wechat-auth:*`, which `PSUBSCRIBE` must match exactly), as the README says.
/// A waiting scan is woken, a login's outcome is kept, and a key outside the layer's is
/// refused.
#[tokio::test]
async fn an_acl_user_limited_to_the_layers_keys_and_channels_is_enough() {
    let Some(server) = RedisServer::spawn_as(Mode::Tls) else {
        return;
    };
    let reply = server.command(&[
        "ACL",
        "SETUSER",
        "narrow",
        "on",
        ">narrow-Secret-1",
        "resetkeys",
        "~*wechat-auth:*",
        "resetchannels",
        "&*wechat-auth:*",
        "+@all",
    ]);
    assert_eq!(reply, Resp::Simple("OK".into()));
    let ca = server.ca_file().unwrap().to_owned();
    let store = RedisStore::connect_lazy(&tls_port_url(&server, "narrow:narrow-Secret-1@"))
        .unwrap()
        .with_ca_file(&ca)
        .unwrap()
        .with_command_timeout(Duration::from_secs(2));
    store.check().await.unwrap();
    let scan = "wechat-auth:wx1:scan:{acl}";
    let mut waiting = store.subscribe(scan).await.unwrap();
    let ttl = Duration::from_secs(5);
    let also = vec![(
        "wechat-auth:wx1:tokens:{oACL}".to_owned(),
        b"t".to_vec(),
        ttl,
    )];
    store
        .set_and_publish_with(scan, b"confirmed".to_vec(), ttl, None, also)
        .await
        .unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(2), waiting.next())
        .await
        .expect("the waiting scan is woken");
    assert_eq!(heard, Some(b"confirmed".to_vec()));
    assert_eq!(
        store.get("wechat-auth:wx1:tokens:{oACL}").await.unwrap(),
        Some(b"t".to_vec())
    );
    assert!(
        store
            .set("someone-else:key", b"x".to_vec(), ttl)
            .await
            .is_err(),
        "the ACL really is narrow"
    );
}

/// `WECHAT_REDIS_URL=rediss://…` with `WECHAT_REDIS_CA_FILE`, through the configuration:
/// a website login whose state lives in the TLS Redis.
#[tokio::test]
async fn a_login_through_the_configuration_on_tls_redis() {
    let Some(server) = RedisServer::spawn_as(Mode::Tls) else {
        return;
    };
    let mock = MockWechat::start().await.unwrap();
    let app = start(
        base_config(&mock)
            .with_redis_url(server.url())
            .with_redis_ca_file(server.ca_file().unwrap()),
    )
    .await;
    let b = browser();
    let res = login(&app, &b, "?return_to=/profile", "alice").await;
    assert_eq!(
        res.status(),
        302,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let (status, user) = get_json(&b, &format!("{}/profile", app.url)).await;
    assert_eq!(status, 200, "{user}");
    let keys = server.keys("wechat-auth:*");
    assert!(
        keys.iter().any(|k| k.contains(":login:{")),
        "the exchange (kept under its state) went through TLS Redis: {keys:?}"
    );
}

#[tokio::test]
async fn one_seed_is_enough_and_keys_spread_over_the_cluster() {
    let Some(server) = RedisServer::spawn_as(Mode::Cluster) else {
        return;
    };
    let first = server.node_addrs()[0].clone();
    let store = RedisStore::connect(&format!("redis+cluster://{first}"))
        .await
        .unwrap();
    for i in 0..60 {
        let key = format!("wechat-auth:wx1:scan:{{s{i}}}");
        store
            .set(&key, b"1".to_vec(), Duration::from_secs(30))
            .await
            .unwrap();
        store
            .set(
                &format!("{key}:claim"),
                b"1".to_vec(),
                Duration::from_secs(30),
            )
            .await
            .unwrap();
    }
    // Every node holds some of them (MOVED handled by the client), each key next to its
    // claim (one hash tag, one slot).
    for (node, addr) in server.node_addrs().iter().enumerate() {
        let size = server.command_on(node, &["DBSIZE"]).int();
        assert!(size > 0, "node {addr} holds none of 120 keys");
        assert_eq!(size % 2, 0, "a key and its claim are on one node");
    }
}

#[tokio::test]
async fn pub_sub_reaches_across_the_cluster_and_survives_a_dead_seed() {
    let Some(server) = RedisServer::spawn_as(Mode::Cluster) else {
        return;
    };
    let addrs = server.node_addrs();
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // The first seed never answers: commands and the pub/sub connection use the others.
    let url = format!("redis://{dead},redis://{},redis://{}", addrs[1], addrs[2]);
    let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&url).await.unwrap());
    let mut sub = store.subscribe("wechat-auth:wx1:scan:{x}").await.unwrap();
    // PUBLISH on every node in turn: a Cluster relays each to the subscriber's node.
    for node in 0..addrs.len() {
        let message = format!("from node {node}");
        let receivers = server
            .command_on(
                node,
                &["PUBLISH", "wechat-auth:wx1:scan:{x}", message.as_str()],
            )
            .int();
        assert!(receivers <= 1);
        let got = tokio::time::timeout(Duration::from_secs(3), sub.next())
            .await
            .expect("a message within 3 s")
            .unwrap();
        assert_eq!(got, message.as_bytes());
    }
    // And through the store (routed by the cluster client).
    store
        .publish("wechat-auth:wx1:scan:{x}", b"via store".to_vec())
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(3), sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, b"via store");
}
