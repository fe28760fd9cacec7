//! The [`Store`] contract, run against every implementation: `memory::*` on
//! [`MemoryStore`], `redis::*` on `RedisStore` (feature `redis`; a local `redis-server` or
//! `WECHAT_REDIS_URL`, see `tests/support/redis_server.rs`). Redis-only behaviour (several
//! instances, key hygiene, outages) is in `redis_only::*`.

#[path = "support/redis_server.rs"]
mod redis_server;

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use wechat_auth::store::{MemoryStore, Revocation, Store};

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What the layer's keys look like: `wechat-auth:APPID:kind:id`.
fn key(kind: &str, id: &str) -> String {
    format!("wechat-auth:wx0123456789abcdef:{kind}:{id}")
}

/// The next message, or a failure after `within`.
async fn recv(sub: &mut wechat_auth::store::Subscription, within: Duration) -> Vec<u8> {
    tokio::time::timeout(within, sub.next())
        .await
        .expect("a message within the deadline")
        .expect("the subscription is still open")
}

/// Nothing arrives for a while.
async fn silent(sub: &mut wechat_auth::store::Subscription, for_: Duration) {
    if let Ok(msg) = tokio::time::timeout(for_, sub.next()).await {
        panic!("expected no message, got {msg:?}");
    }
}

// ---------------------------------------------------------------------------------------
// The contract, generic over the store.
// ---------------------------------------------------------------------------------------

async fn get_set_and_ttl_expiry(s: Arc<dyn Store>) {
    let k = key("userinfo", "o1");
    assert_eq!(s.get(&k).await.unwrap(), None);
    s.set(&k, b"one".to_vec(), Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(s.get(&k).await.unwrap(), Some(b"one".to_vec()));
    // set replaces the value and the TTL.
    s.set(&k, b"two".to_vec(), Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(s.get(&k).await.unwrap(), Some(b"two".to_vec()));
    // An empty value is a value, not an absence.
    let empty = key("userinfo", "empty");
    s.set(&empty, Vec::new(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(s.get(&empty).await.unwrap(), Some(Vec::new()));

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.get(&k).await.unwrap(), None, "expired after its TTL");
    // An expired key can be claimed and taken again.
    assert!(
        s.set_if_absent(&k, b"three".to_vec(), Duration::from_secs(5))
            .await
            .unwrap()
    );
    assert_eq!(s.take(&k).await.unwrap(), Some(b"three".to_vec()));
    assert_eq!(s.take(&k).await.unwrap(), None);
}

async fn set_if_absent_has_exactly_one_winner(s: Arc<dyn Store>) {
    let k = key("code", "lock");
    let mut tasks = Vec::new();
    for i in 0..64u8 {
        let s = s.clone();
        let k = k.clone();
        tasks.push(tokio::spawn(async move {
            let won = s
                .set_if_absent(&k, vec![i], Duration::from_secs(5))
                .await
                .unwrap();
            won.then_some(i)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        winners.extend(t.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "exactly one winner: {winners:?}");
    assert_eq!(s.get(&k).await.unwrap(), Some(vec![winners[0]]));
    assert!(
        !s.set_if_absent(&k, b"late".to_vec(), Duration::from_secs(5))
            .await
            .unwrap()
    );
}

async fn take_has_exactly_one_taker(s: Arc<dyn Store>) {
    for round in 0..20 {
        let k = key("scan", &format!("scene{round}"));
        s.set(&k, format!("v{round}").into_bytes(), Duration::from_secs(5))
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let s = s.clone();
            let k = k.clone();
            tasks.push(tokio::spawn(async move { s.take(&k).await.unwrap() }));
        }
        let mut got = Vec::new();
        for t in tasks {
            got.extend(t.await.unwrap());
        }
        assert_eq!(got, vec![format!("v{round}").into_bytes()], "round {round}");
        assert_eq!(s.get(&k).await.unwrap(), None);
    }
}

async fn delete_if_eq_only_with_the_expected_value(s: Arc<dyn Store>) {
    let k = key("global_token", "oa");
    s.set(&k, b"old".to_vec(), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(!s.delete_if_eq(&k, b"other").await.unwrap());
    assert!(!s.delete_if_eq(&k, b"ol").await.unwrap(), "no prefix match");
    assert_eq!(s.get(&k).await.unwrap(), Some(b"old".to_vec()));
    assert!(s.delete_if_eq(&k, b"old").await.unwrap());
    assert_eq!(s.get(&k).await.unwrap(), None);
    assert!(!s.delete_if_eq(&k, b"old").await.unwrap(), "already gone");
    assert!(!s.delete_if_eq(&key("x", "missing"), b"").await.unwrap());
    // Binary values compare byte for byte.
    let bin = vec![0u8, 255, 1, 0, 128];
    s.set(&k, bin.clone(), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(s.delete_if_eq(&k, &bin).await.unwrap());
}

async fn publish_reaches_current_subscribers(s: Arc<dyn Store>) {
    let topic = key("scan", "t1");
    let other = key("scan", "t2");
    s.publish(&topic, b"before".to_vec()).await.unwrap();
    let mut a = s.subscribe(&topic).await.unwrap();
    let mut b = s.subscribe(&topic).await.unwrap();
    let mut c = s.subscribe(&other).await.unwrap();
    s.publish(&topic, b"hello".to_vec()).await.unwrap();
    assert_eq!(recv(&mut a, Duration::from_secs(2)).await, b"hello");
    assert_eq!(recv(&mut b, Duration::from_secs(2)).await, b"hello");
    s.publish(&other, Vec::new()).await.unwrap();
    assert_eq!(
        recv(&mut c, Duration::from_secs(2)).await,
        b"",
        "empty wake-up"
    );
    silent(&mut a, Duration::from_millis(100)).await;
    // One subscriber leaving does not end the others' subscription.
    drop(b);
    s.publish(&topic, b"again".to_vec()).await.unwrap();
    assert_eq!(recv(&mut a, Duration::from_secs(2)).await, b"again");
    silent(&mut c, Duration::from_millis(50)).await;
    // A topic nobody listens to any more can be listened to again.
    drop(a);
    let mut d = s.subscribe(&topic).await.unwrap();
    s.publish(&topic, b"later".to_vec()).await.unwrap();
    assert_eq!(recv(&mut d, Duration::from_secs(2)).await, b"later");
}

async fn revocations_are_listed_until_they_lapse(s: Arc<dyn Store>) {
    let now = now_unix();
    s.revoke(&Revocation::new("live", 0, now + 60))
        .await
        .unwrap();
    // "soon" lapses a few seconds on: long enough that the 50 revocations below finish
    // before it on a slow store (TLS, a Cluster, a loaded machine), short enough to wait for.
    s.revoke(&Revocation::new("soon", 0, now + SOON))
        .await
        .unwrap();
    s.revoke(&Revocation::new("dead", 0, now - 1))
        .await
        .unwrap();
    let mut list = s.revoked().await.unwrap();
    list.sort();
    assert_eq!(
        list,
        vec![
            Revocation::new("live", 0, now + 60),
            Revocation::new("soon", 0, now + SOON)
        ]
    );
    // Revoking again keeps one entry per family, and an entry only widens: a chain of
    // refreshes (each revoking its parent's generation) is one entry.
    for g in 0..50 {
        s.revoke(&Revocation::new("live", g, now + 60))
            .await
            .unwrap();
    }
    s.revoke(&Revocation::new("live", 3, now + 30))
        .await
        .unwrap();
    assert_eq!(s.revoked().await.unwrap().len(), 2);
    while now_unix() <= now + SOON {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        s.revoked().await.unwrap(),
        vec![Revocation::new("live", 49, now + 60)]
    );
}

/// How long after the test's start the "soon" revocation lapses, in seconds.
const SOON: u64 = 4;

async fn large_values_round_trip(s: Arc<dyn Store>) {
    let big: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let k = key("userinfo", "big");
    s.set(&k, big.clone(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(s.get(&k).await.unwrap().as_deref(), Some(&big[..]));
    assert!(s.delete_if_eq(&k, &big).await.unwrap());
    assert!(
        s.set_if_absent(&k, big.clone(), Duration::from_secs(5))
            .await
            .unwrap()
    );
    assert_eq!(s.take(&k).await.unwrap().as_deref(), Some(&big[..]));
    let topic = key("scan", "big");
    let mut sub = s.subscribe(&topic).await.unwrap();
    s.publish(&topic, big.clone()).await.unwrap();
    assert_eq!(recv(&mut sub, Duration::from_secs(2)).await, big);
}

async fn increment_counts_once_per_caller_and_keeps_its_first_ttl(s: Arc<dyn Store>) {
    let k = key("scan-budget", "2024-01-01");
    // Concurrent callers each see their own count: no two the same, none lost.
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let s = s.clone();
        let k = k.clone();
        tasks.push(tokio::spawn(async move {
            s.increment(&k, Duration::from_millis(600)).await.unwrap()
        }));
    }
    let mut counts = Vec::new();
    for t in tasks {
        counts.push(t.await.unwrap());
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=64).collect::<Vec<u64>>());
    assert_eq!(s.get(&k).await.unwrap(), Some(b"64".to_vec()));
    // A later increment does not extend the counter's life: it ends with the first TTL.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.increment(&k, Duration::from_secs(60)).await.unwrap(), 65);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.get(&k).await.unwrap(), None, "expired with its first TTL");
    assert_eq!(s.increment(&k, Duration::from_secs(5)).await.unwrap(), 1);
    // A value that is not a counter is an error, not a reset.
    let other = key("userinfo", "not-a-counter");
    s.set(&other, b"{\"x\":1}".to_vec(), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(s.increment(&other, Duration::from_secs(5)).await.is_err());
}

/// `lock_or_get`: the value when there is one (the lock untouched), else exactly one of many
/// concurrent callers gets the lock.
async fn lock_or_get_has_one_winner_and_answers_a_value(s: Arc<dyn Store>) {
    use wechat_auth::store::LockOrValue;
    let (k, lock) = (key("code", "{c1}"), key("code", "{c1}:lock"));
    let ttl = Duration::from_secs(5);
    let tries = (0..16).map(|i| {
        let (s, k, lock) = (s.clone(), k.clone(), lock.clone());
        tokio::spawn(async move {
            s.lock_or_get(&k, &lock, format!("owner{i}").into_bytes(), ttl)
                .await
                .unwrap()
        })
    });
    let mut locked = 0;
    for t in tries {
        match t.await.unwrap() {
            LockOrValue::Locked => locked += 1,
            LockOrValue::Busy => {}
            other => panic!("no value yet: {other:?}"),
        }
    }
    assert_eq!(locked, 1, "one caller holds the lock");
    s.set(&k, b"done".to_vec(), ttl).await.unwrap();
    assert_eq!(
        s.lock_or_get(&k, &key("code", "{c1}:other-lock"), b"x".to_vec(), ttl)
            .await
            .unwrap(),
        LockOrValue::Value(b"done".to_vec())
    );
    assert_eq!(
        s.get(&key("code", "{c1}:other-lock")).await.unwrap(),
        None,
        "a value found takes no lock"
    );
}

/// `get_many`: the values in the keys' order, `None` for a missing or expired one; keys that
/// share a hash tag (as the layer asks them) and an empty list.
async fn get_many_answers_in_order(s: Arc<dyn Store>) {
    let ttl = Duration::from_secs(5);
    let (a, b, c) = (
        key("follower", "{oM}"),
        key("profile", "{oM}"),
        key("tokens", "{oM}"),
    );
    s.set(&a, b"f".to_vec(), ttl).await.unwrap();
    s.set(&c, b"t".to_vec(), Duration::from_millis(100))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        s.get_many(&[&a, &b, &c]).await.unwrap(),
        vec![Some(b"f".to_vec()), None, None]
    );
    s.set(&b, b"p".to_vec(), ttl).await.unwrap();
    assert_eq!(
        s.get_many(&[&b, &a]).await.unwrap(),
        vec![Some(b"p".to_vec()), Some(b"f".to_vec())]
    );
    assert!(s.get_many(&[]).await.unwrap().is_empty());
}

/// `set_and_publish_with`: the other writes stored (keys in other slots, as a person's tokens
/// beside a login's outcome), then the value stored, told and the lock released; a script
/// the server lost (SCRIPT FLUSH) is loaded again, the writes still in.
async fn set_and_publish_with_stores_the_other_writes_too(s: Arc<dyn Store>) {
    let (k, lock) = (key("code", "{w1}"), key("code", "{w1}:lock"));
    let ttl = Duration::from_secs(5);
    let also = |n: &str| {
        vec![
            (key("tokens", "{oA}"), format!("a{n}").into_bytes(), ttl),
            (
                key("session_key", "{oB}"),
                format!("b{n}").into_bytes(),
                ttl,
            ),
        ]
    };
    assert!(s.set_if_absent(&lock, b"me".to_vec(), ttl).await.unwrap());
    let mut sub = s.subscribe(&k).await.unwrap();
    s.set_and_publish_with(&k, b"v1".to_vec(), ttl, Some((&lock, b"me")), also("1"))
        .await
        .unwrap();
    assert_eq!(recv(&mut sub, Duration::from_secs(2)).await, b"v1");
    assert_eq!(s.get(&k).await.unwrap(), Some(b"v1".to_vec()));
    assert_eq!(
        s.get(&lock).await.unwrap(),
        None,
        "the owner's lock released"
    );
    assert_eq!(
        s.get(&key("tokens", "{oA}")).await.unwrap(),
        Some(b"a1".to_vec())
    );
    assert_eq!(
        s.get(&key("session_key", "{oB}")).await.unwrap(),
        Some(b"b1".to_vec())
    );
    // Nothing else to write: as set_and_publish.
    s.set_and_publish_with(&k, b"v2".to_vec(), ttl, None, Vec::new())
        .await
        .unwrap();
    assert_eq!(recv(&mut sub, Duration::from_secs(2)).await, b"v2");
    // The other writes keep their own lifetimes.
    let short = vec![(
        key("tokens", "{oC}"),
        b"c".to_vec(),
        Duration::from_millis(200),
    )];
    s.set_and_publish_with(&k, b"v3".to_vec(), ttl, None, short)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(s.get(&key("tokens", "{oC}")).await.unwrap(), None);
    assert_eq!(s.get(&k).await.unwrap(), Some(b"v3".to_vec()));
}

/// `set_and_publish`: the value stored, published with itself, and the lock released only
/// for its owner.
async fn set_and_publish_stores_tells_and_releases_only_its_own_lock(s: Arc<dyn Store>) {
    let (k, lock) = (key("scan", "{s1}"), key("scan", "{s1}:lock"));
    let ttl = Duration::from_secs(5);
    assert!(s.set_if_absent(&lock, b"me".to_vec(), ttl).await.unwrap());
    let mut sub = s.subscribe(&k).await.unwrap();
    // Someone else's release leaves the lock alone.
    s.set_and_publish(&k, b"v1".to_vec(), ttl, Some((&lock, b"you")))
        .await
        .unwrap();
    assert_eq!(recv(&mut sub, Duration::from_secs(2)).await, b"v1");
    assert_eq!(s.get(&lock).await.unwrap(), Some(b"me".to_vec()));
    s.set_and_publish(&k, b"v2".to_vec(), ttl, Some((&lock, b"me")))
        .await
        .unwrap();
    assert_eq!(recv(&mut sub, Duration::from_secs(2)).await, b"v2");
    assert_eq!(s.get(&k).await.unwrap(), Some(b"v2".to_vec()));
    assert_eq!(
        s.get(&lock).await.unwrap(),
        None,
        "the owner's lock released"
    );
    // Without a lock: stored and told.
    s.set_and_publish(&k, b"v3".to_vec(), ttl, None)
        .await
        .unwrap();
    assert_eq!(recv(&mut sub, Duration::from_secs(2)).await, b"v3");
    // The value expires with its TTL.
    s.set_and_publish(&k, b"v4".to_vec(), Duration::from_millis(200), None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(s.get(&k).await.unwrap(), None);
}

/// `get_and_claim`: nothing written for an absent record; one claimer among many.
async fn get_and_claim_writes_nothing_for_nothing_and_has_one_claimer(s: Arc<dyn Store>) {
    let (k, claim) = (key("scan", "{s2}"), key("scan", "{s2}:claim"));
    let ttl = Duration::from_secs(5);
    assert_eq!(
        s.get_and_claim(&k, &claim, b"me".to_vec(), ttl)
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.get(&claim).await.unwrap(), None, "no record: no claim");
    s.set(&k, b"scene".to_vec(), ttl).await.unwrap();
    let tries = (0..16).map(|i| {
        let (s, k, claim) = (s.clone(), k.clone(), claim.clone());
        tokio::spawn(async move {
            s.get_and_claim(&k, &claim, format!("o{i}").into_bytes(), ttl)
                .await
                .unwrap()
        })
    });
    let mut claimed = 0;
    for t in tries {
        let (value, mine) = t.await.unwrap().expect("the record is there");
        assert_eq!(value, b"scene");
        claimed += usize::from(mine);
    }
    assert_eq!(claimed, 1, "one claimer");
}

/// Each contract test once per store: `memory::NAME` and `redis::NAME`.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(std::sync::Arc::new(super::MemoryStore::new())).await;
                }
            )*
        }

        #[cfg(feature = "redis")]
        mod redis {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(fx) = super::redis_only::Fixture::new(stringify!($name)).await else {
                        return;
                    };
                    super::$name(fx.store.clone()).await;
                }
            )*
        }
    };
}

contract!(
    get_set_and_ttl_expiry,
    set_if_absent_has_exactly_one_winner,
    take_has_exactly_one_taker,
    delete_if_eq_only_with_the_expected_value,
    publish_reaches_current_subscribers,
    revocations_are_listed_until_they_lapse,
    large_values_round_trip,
    increment_counts_once_per_caller_and_keeps_its_first_ttl,
    lock_or_get_has_one_winner_and_answers_a_value,
    set_and_publish_stores_tells_and_releases_only_its_own_lock,
    set_and_publish_with_stores_the_other_writes_too,
    get_many_answers_in_order,
    get_and_claim_writes_nothing_for_nothing_and_has_one_claimer,
);

// ---------------------------------------------------------------------------------------
// Redis only.
// ---------------------------------------------------------------------------------------

#[cfg(feature = "redis")]
mod redis_only {
    use std::{
        sync::Arc,
        time::{Duration, Instant},
    };

    use wechat_auth::store::{RedisStore, Revocation, Store, StoreError};

    use super::{key, now_unix, recv, redis_server::RedisServer, silent};

    /// A Redis, and a store on it under a key prefix of this test's own.
    pub(crate) struct Fixture {
        pub(crate) server: RedisServer,
        pub(crate) prefix: String,
        pub(crate) redis: RedisStore,
        pub(crate) store: Arc<dyn Store>,
    }

    impl Fixture {
        pub(crate) async fn new(test: &str) -> Option<Fixture> {
            Self::on(RedisServer::find()?, test).await
        }

        async fn on(server: RedisServer, test: &str) -> Option<Fixture> {
            let prefix = super::redis_server::test_prefix(test);
            let redis = server.store().await.with_prefix(prefix.clone());
            Some(Fixture {
                store: Arc::new(redis.clone()),
                server,
                prefix,
                redis,
            })
        }

        /// Another "app instance" on the same Redis and prefix.
        async fn other_instance(&self) -> RedisStore {
            self.server.store().await.with_prefix(self.prefix.clone())
        }
    }

    #[tokio::test]
    async fn two_instances_share_state_and_messages() {
        let Some(fx) = Fixture::new("two_instances").await else {
            return;
        };
        let a = &fx.redis;
        let b = fx.other_instance().await;
        let k = key("code", "c1");
        a.set(&k, b"outcome".to_vec(), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(b.get(&k).await.unwrap(), Some(b"outcome".to_vec()));
        assert!(
            a.set_if_absent(&key("code", "lock"), b"a".to_vec(), Duration::from_secs(5))
                .await
                .unwrap()
        );
        assert!(
            !b.set_if_absent(&key("code", "lock"), b"b".to_vec(), Duration::from_secs(5))
                .await
                .unwrap()
        );
        assert_eq!(b.take(&k).await.unwrap(), Some(b"outcome".to_vec()));
        assert_eq!(a.take(&k).await.unwrap(), None);

        // Publish on A, receive on B (and on A's own subscriber).
        let topic = key("scan", "s1");
        let mut on_b = b.subscribe(&topic).await.unwrap();
        let mut on_a = a.subscribe(&topic).await.unwrap();
        a.publish(&topic, b"confirmed".to_vec()).await.unwrap();
        assert_eq!(recv(&mut on_b, Duration::from_secs(2)).await, b"confirmed");
        assert_eq!(recv(&mut on_a, Duration::from_secs(2)).await, b"confirmed");

        // Logout on A reaches B's deny-list.
        a.revoke(&Revocation::new("jti-1", 0, now_unix() + 60))
            .await
            .unwrap();
        assert_eq!(b.revoked().await.unwrap()[0].family, "jti-1");
    }

    /// A Redis that lost its scripts (a restart, `SCRIPT FLUSH`) between two logins: the
    /// pipelined writes go in, the script loads itself again and runs.
    #[tokio::test]
    async fn set_and_publish_with_survives_a_script_flush() {
        let Some(fx) = Fixture::new("script_flush").await else {
            return;
        };
        let ttl = Duration::from_secs(5);
        let (k, t) = (key("code", "{f1}"), key("tokens", "{oF}"));
        let also = |v: &[u8]| vec![(t.clone(), v.to_vec(), ttl)];
        fx.store
            .set_and_publish_with(&k, b"v1".to_vec(), ttl, None, also(b"t1"))
            .await
            .unwrap();
        fx.server.command_on_each(&["SCRIPT", "FLUSH"]);
        fx.store
            .set_and_publish_with(&k, b"v2".to_vec(), ttl, None, also(b"t2"))
            .await
            .unwrap();
        assert_eq!(fx.store.get(&k).await.unwrap(), Some(b"v2".to_vec()));
        assert_eq!(fx.store.get(&t).await.unwrap(), Some(b"t2".to_vec()));
    }

    #[tokio::test]
    async fn prefixes_keep_apps_apart() {
        let Some(fx) = Fixture::new("prefixes").await else {
            return;
        };
        let other = fx
            .server
            .store()
            .await
            .with_prefix(format!("{}-other", fx.prefix));
        let k = key("userinfo", "o1");
        fx.redis
            .set(&k, b"mine".to_vec(), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(other.get(&k).await.unwrap(), None);
        fx.redis
            .revoke(&Revocation::new("jti", 0, now_unix() + 60))
            .await
            .unwrap();
        assert!(other.revoked().await.unwrap().is_empty());
        let topic = key("scan", "p");
        let mut theirs = other.subscribe(&topic).await.unwrap();
        let mut mine = fx.redis.subscribe(&topic).await.unwrap();
        fx.redis.publish(&topic, b"x".to_vec()).await.unwrap();
        assert_eq!(recv(&mut mine, Duration::from_secs(2)).await, b"x");
        silent(&mut theirs, Duration::from_millis(100)).await;
        // And the keys really are under the prefix.
        let keys = fx.server.keys(&format!("{}:*", fx.prefix));
        assert!(keys.contains(&format!("{}:{k}", fx.prefix)), "{keys:?}");
    }

    #[tokio::test]
    async fn every_key_written_has_a_ttl() {
        let Some(fx) = Fixture::new("ttl_hygiene").await else {
            return;
        };
        let s = &fx.store;
        s.set(
            &key("userinfo", "a"),
            b"1".to_vec(),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        s.set(
            &key("tokens", "a"),
            b"1".to_vec(),
            Duration::from_secs(30 * 86_400),
        )
        .await
        .unwrap();
        s.set_if_absent(&key("code", "lock"), b"1".to_vec(), Duration::from_secs(30))
            .await
            .unwrap();
        s.set(&key("scan", "x"), b"1".to_vec(), Duration::ZERO)
            .await
            .unwrap();
        s.set(&key("scan", "y"), b"1".to_vec(), Duration::from_secs(60))
            .await
            .unwrap();
        s.take(&key("scan", "y")).await.unwrap();
        s.revoke(&Revocation::new("j1", 0, now_unix() + 120))
            .await
            .unwrap();
        s.revoke(&Revocation::new("j2", 0, now_unix() + 3600))
            .await
            .unwrap();
        s.publish(&key("scan", "z"), Vec::new()).await.unwrap();

        let keys = fx.server.keys(&format!("{}:*", fx.prefix));
        assert!(keys.len() >= 4, "{keys:?}");
        for k in &keys {
            // -1: no expiry (never acceptable); -2: gone (the 1 ms one may just have
            // expired); 0 or more: milliseconds left.
            let pttl = fx.server.command(&["PTTL", k]).int();
            assert_ne!(pttl, -1, "{k} has no TTL");
            if !k.ends_with(":scan:x") {
                assert!(pttl > 0, "{k} has PTTL {pttl}");
            }
        }
        // The deny-list lives as long as its farthest entry, not longer.
        let revoked = format!("{}:wechat-auth:{{revoked}}", fx.prefix);
        let ttl = fx.server.command(&["TTL", &revoked]).int();
        assert!((3500..=3602).contains(&ttl), "deny-list TTL {ttl}");
    }

    #[tokio::test]
    async fn subscriptions_share_one_connection_and_unsubscribe_when_dropped() {
        let Some(fx) = Fixture::new("pubsub_resources").await else {
            return;
        };
        // Summed over the nodes of a Cluster (each counts its own clients' subscriptions).
        let numsub = |channel: &str| {
            let mut total = 0;
            for reply in fx.server.command_on_each(&["PUBSUB", "NUMSUB", channel]) {
                let super::redis_server::Resp::Array(parts) = reply else {
                    panic!("{reply:?}")
                };
                total += parts[1].int();
            }
            total
        };
        // The layer's own topics (`…wechat-auth:…`) come through one pattern, subscribed
        // once per connection: a waiting scan costs no SUBSCRIBE or UNSUBSCRIBE.
        let layer: Vec<String> = (0..50).map(|i| key("scan", &format!("l{i}"))).collect();
        let mut waiting = Vec::new();
        for t in &layer {
            waiting.push(fx.store.subscribe(t).await.unwrap());
        }
        let channel = |t: &str| format!("{}:{t}", fx.prefix);
        for t in &layer {
            assert_eq!(
                numsub(&channel(t)),
                0,
                "{t} needs no subscription of its own"
            );
        }
        fx.store
            .publish(&layer[7], b"scanned".to_vec())
            .await
            .unwrap();
        assert_eq!(
            recv(&mut waiting[7], Duration::from_secs(2)).await,
            b"scanned"
        );
        silent(&mut waiting[8], Duration::from_millis(100)).await;
        // Any other topic is subscribed on its own, once however many listen here.
        let topics: Vec<String> = (0..50).map(|i| format!("custom:topic:r{i}")).collect();
        let mut subs = Vec::new();
        for t in &topics {
            subs.push(fx.store.subscribe(t).await.unwrap());
            subs.push(fx.store.subscribe(t).await.unwrap());
        }
        // 100 local subscribers, one Redis subscription per topic.
        for t in &topics {
            assert_eq!(numsub(&channel(t)), 1, "{t}");
        }
        // ... and all 50 and the pattern on one connection (`sub=50 psub=1` in CLIENT LIST).
        let clients: String = fx
            .server
            .command_on_each(&["CLIENT", "LIST"])
            .iter()
            .filter_map(|r| r.text())
            .collect();
        let carriers = clients
            .lines()
            .filter(|l| l.contains(" sub=50 ") && l.contains(" psub=1 "))
            .count();
        assert_eq!(
            carriers, 1,
            "one pub/sub connection carries them all:\n{clients}"
        );
        drop(subs);
        drop(waiting);
        let deadline = Instant::now() + Duration::from_secs(3);
        while topics.iter().any(|t| numsub(&channel(t)) != 0) {
            assert!(
                Instant::now() < deadline,
                "topics still subscribed after drop"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Leaving and rejoining a topic in a tight loop never loses a message published after
    /// `subscribe` returned (the UNSUBSCRIBE of the leaver must not undo the SUBSCRIBE of
    /// the joiner).
    #[tokio::test]
    async fn rejoining_a_topic_right_after_leaving_it_still_delivers() {
        let Some(fx) = Fixture::new("rejoin").await else {
            return;
        };
        let topic = key("scan", "churn");
        for i in 0..200u32 {
            let first = fx.store.subscribe(&topic).await.unwrap();
            drop(first);
            if i % 3 == 0 {
                tokio::task::yield_now().await;
            }
            let mut second = fx.store.subscribe(&topic).await.unwrap();
            fx.store
                .publish(&topic, i.to_be_bytes().to_vec())
                .await
                .unwrap();
            assert_eq!(
                recv(&mut second, Duration::from_secs(2)).await,
                i.to_be_bytes(),
                "round {i}"
            );
        }
    }

    /// Dropping the store and its subscriptions closes its connections (no task or
    /// connection outlives them).
    #[tokio::test]
    async fn dropping_the_store_closes_its_connections() {
        let Some(server) = RedisServer::spawn() else {
            return;
        };
        let fx = Fixture::on(server, "drop").await.unwrap();
        let connected = |server: &RedisServer| {
            // Over every node; each raw connection counts itself.
            server
                .command_on_each(&["INFO", "clients"])
                .iter()
                .map(|r| {
                    let info = r.text().unwrap();
                    info.lines()
                        .find_map(|l| l.strip_prefix("connected_clients:"))
                        .and_then(|n| n.trim().parse::<i64>().ok())
                        .unwrap()
                        - 1
                })
                .sum::<i64>()
        };
        // One command connection per node (a Cluster: one per primary).
        let command_connections = i64::try_from(fx.server.node_addrs().len()).unwrap();
        let sub = fx.store.subscribe(&key("scan", "d")).await.unwrap();
        fx.store.get("k").await.unwrap();
        assert_eq!(
            connected(&fx.server),
            command_connections + 1,
            "one command and one pub/sub connection"
        );
        let Fixture {
            server,
            redis,
            store,
            ..
        } = fx;
        drop((redis, store));
        // A live subscription keeps the pub/sub connection.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(connected(&server), 1);
        drop(sub);
        let deadline = Instant::now() + Duration::from_secs(3);
        while connected(&server) != 0 {
            assert!(Instant::now() < deadline, "connections left open");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn connect_fails_fast_when_nothing_listens() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let started = Instant::now();
        let err = RedisStore::connect(&format!("redis://:hunter2@127.0.0.1:{port}"))
            .await
            .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("127.0.0.1"), "{err}");
        eprintln!("connect to a closed port: {err}");

        // The lazy store starts anyway and answers Unavailable from its operations.
        let lazy = RedisStore::connect_lazy(&format!("redis://127.0.0.1:{port}")).unwrap();
        let started = Instant::now();
        let err = lazy.get("k").await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));
        let err = lazy.subscribe("t").await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
        assert!(started.elapsed() < Duration::from_secs(6));
    }

    /// Redis crashes mid-test: every operation answers `Unavailable` within the command
    /// timeout; Redis comes back on the same port: the same store works again by itself,
    /// and subscriptions made before and after the outage both receive.
    #[tokio::test]
    async fn outage_then_recovery() {
        let Some(server) = RedisServer::spawn() else {
            return;
        };
        logs::capture();
        let mut fx = Fixture::on(server, "outage").await.unwrap();
        let s = fx.store.clone();
        let k = key("userinfo", "o1");
        s.set(&k, b"v".to_vec(), Duration::from_secs(60))
            .await
            .unwrap();
        let before_topic = key("scan", "before");
        let mut before = s.subscribe(&before_topic).await.unwrap();

        fx.server.stop();
        let outage = Instant::now();
        let mut slowest = Duration::ZERO;
        macro_rules! unavailable {
            ($what:literal, $op:expr) => {{
                let started = Instant::now();
                let result = $op.await;
                let took = started.elapsed();
                assert!(
                    matches!(result, Err(StoreError::Unavailable(_))),
                    "{} during the outage: {:?}",
                    $what,
                    result.map(|_| ())
                );
                assert!(took < Duration::from_secs(3), "{} took {took:?}", $what);
                eprintln!("outage: {} answered Unavailable in {took:?}", $what);
                slowest = slowest.max(took);
            }};
        }
        unavailable!("get", s.get(&k));
        unavailable!("set", s.set(&k, b"w".to_vec(), Duration::from_secs(5)));
        unavailable!(
            "set_if_absent",
            s.set_if_absent(&k, b"w".to_vec(), Duration::from_secs(5))
        );
        unavailable!("take", s.take(&k));
        unavailable!("delete_if_eq", s.delete_if_eq(&k, b"v"));
        unavailable!("publish", s.publish(&before_topic, b"lost".to_vec()));
        unavailable!("subscribe", s.subscribe(&key("scan", "during")));
        unavailable!(
            "revoke",
            s.revoke(&Revocation::new("j", 0, now_unix() + 60))
        );
        unavailable!("revoked", s.revoked());
        eprintln!("outage: slowest Unavailable answer {slowest:?}");

        fx.server.restart();
        let restarted = Instant::now();
        loop {
            if s.get(&k).await.is_ok() {
                break;
            }
            assert!(
                restarted.elapsed() < Duration::from_secs(10),
                "no recovery within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let commands_back = restarted.elapsed();
        // Persistence is off: the restarted Redis is empty, and fully usable.
        assert_eq!(s.get(&k).await.unwrap(), None);
        s.set(&k, b"again".to_vec(), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(s.take(&k).await.unwrap(), Some(b"again".to_vec()));
        assert!(s.delete_if_eq(&k, b"x").await.is_ok());
        s.revoke(&Revocation::new("j", 0, now_unix() + 60))
            .await
            .unwrap();
        assert_eq!(s.revoked().await.unwrap().len(), 1);

        // The subscription made before the outage receives again once the pub/sub connection
        // is back (the hub reconnects on its own, within its 1 s backoff).
        loop {
            s.publish(&before_topic, b"back".to_vec()).await.unwrap();
            if let Ok(Some(msg)) =
                tokio::time::timeout(Duration::from_millis(100), before.next()).await
            {
                assert_eq!(msg, b"back");
                break;
            }
            assert!(
                restarted.elapsed() < Duration::from_secs(10),
                "the old subscription never came back"
            );
        }
        let old_back = restarted.elapsed();

        // And a subscription made after the restart works.
        let after_topic = key("scan", "after");
        let mut after = loop {
            match s.subscribe(&after_topic).await {
                Ok(sub) => break sub,
                Err(e) => {
                    assert!(restarted.elapsed() < Duration::from_secs(10), "{e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        s.publish(&after_topic, b"hi".to_vec()).await.unwrap();
        assert_eq!(recv(&mut after, Duration::from_secs(2)).await, b"hi");
        let new_back = restarted.elapsed();

        eprintln!(
            "recovery after restart: commands {commands_back:?}, old subscription {old_back:?}, new subscription {new_back:?}"
        );

        // One warning for the outage (at most one per 10 s), one notice when it ended.
        let logs = logs::captured();
        let warnings = logs.matches("Redis store unreachable").count();
        let allowed = 1 + usize::try_from(outage.elapsed().as_secs() / 10).unwrap();
        assert!(
            (1..=allowed).contains(&warnings),
            "{warnings} warnings:\n{logs}"
        );
        assert_eq!(
            logs.matches("Redis store reachable again").count(),
            1,
            "{logs}"
        );
        assert!(
            logs.contains("WARN") && logs.contains(fx.server.url().trim_end_matches("/0")),
            "{logs}"
        );
    }

    /// Log capture: one global subscriber whose writer files output under the current
    /// thread (a `#[tokio::test]` runs the store and its tasks on its own thread).
    mod logs {
        use std::{
            collections::HashMap,
            io,
            sync::{Mutex, MutexGuard, Once, OnceLock},
            thread::ThreadId,
        };

        pub(super) fn capture() {
            static INIT: Once = Once::new();
            INIT.call_once(|| {
                let subscriber = tracing_subscriber::fmt()
                    .with_max_level(tracing::Level::INFO)
                    .with_ansi(false)
                    .with_writer(|| ThreadLog)
                    .finish();
                tracing::subscriber::set_global_default(subscriber).unwrap();
            });
            by_thread().remove(&std::thread::current().id());
        }

        pub(super) fn captured() -> String {
            let bytes = by_thread()
                .get(&std::thread::current().id())
                .cloned()
                .unwrap_or_default();
            String::from_utf8(bytes).unwrap()
        }

        fn by_thread() -> MutexGuard<'static, HashMap<ThreadId, Vec<u8>>> {
            static LOGS: OnceLock<Mutex<HashMap<ThreadId, Vec<u8>>>> = OnceLock::new();
            LOGS.get_or_init(Mutex::default)
                .lock()
                .unwrap_or_else(|e| e.into_inner())
        }

        struct ThreadLog;

        impl io::Write for ThreadLog {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                by_thread()
                    .entry(std::thread::current().id())
                    .or_default()
                    .extend_from_slice(buf);
                Ok(buf.len())
            }

            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
    }
}
