//! [`MemoryStore`]: the in-process default store, on moka.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use moka::{Expiry, future::Cache, ops::compute::Op};
use tokio::sync::broadcast;

use super::{BoxFuture, Revocation, Store, StoreResult, Subscription};
use crate::clock::now_unix;

#[derive(Clone)]
struct Entry {
    value: Arc<[u8]>,
    ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, value: &Entry, _: Instant) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _: &String,
        value: &Entry,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The default [`Store`]: in this process, bounded, every entry with its own TTL (moka).
///
/// Fine for one instance. Several instances behind a load balancer need a shared store
/// (Redis), or a scan pushed to one instance never reaches the browser waiting on another.
///
/// ```
/// use std::time::Duration;
/// use wechat_auth::store::{MemoryStore, Store};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wechat_auth::store::StoreError> {
/// let store = MemoryStore::new().with_max_bytes(8 * 1024 * 1024);
/// assert!(store.set_if_absent("code:abc", b"1".to_vec(), Duration::from_secs(60)).await?);
/// assert!(!store.set_if_absent("code:abc", b"2".to_vec(), Duration::from_secs(60)).await?);
/// assert_eq!(store.take("code:abc").await?, Some(b"1".to_vec())); // one taker only
/// assert_eq!(store.take("code:abc").await?, None);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    cache: Cache<String, Entry>,
    topics: Arc<Mutex<HashMap<String, broadcast::Sender<Vec<u8>>>>>,
    revoked: Arc<Mutex<HashMap<String, Revocation>>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("entries", &self.cache.entry_count())
            .field("weighted_bytes", &self.cache.weighted_size())
            .finish()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

/// Default bound on the bytes the store holds (keys and values).
const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

impl MemoryStore {
    /// A store bounded to 64 MiB of keys and values.
    ///
    /// ```
    /// use wechat_auth::store::{MemoryStore, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wechat_auth::store::StoreError> {
    /// let store = MemoryStore::new();
    /// assert_eq!(store.get("anything").await?, None);
    /// assert!(format!("{store:?}").contains("entries: 0"));
    /// # Ok(()) }
    /// ```
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_MAX_BYTES)
    }

    /// The same store with a different bound, in bytes of keys plus values. When full, the
    /// least useful entries go first (moka's TinyLFU).
    ///
    /// ```
    /// use std::time::Duration;
    /// use wechat_auth::store::{MemoryStore, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wechat_auth::store::StoreError> {
    /// let store = MemoryStore::new().with_max_bytes(1 << 20);
    /// store.set("k", vec![7; 1024], Duration::from_secs(60)).await?;
    /// assert_eq!(store.get("k").await?.map(|v| v.len()), Some(1024));
    /// # Ok(()) }
    /// ```
    pub fn with_max_bytes(self, max_bytes: u64) -> Self {
        Self::with_capacity(max_bytes)
    }

    fn with_capacity(max_bytes: u64) -> Self {
        let cache = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &String, v: &Entry| {
                u32::try_from(k.len() + v.value.len() + 64).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        Self {
            cache,
            topics: Arc::default(),
            revoked: Arc::default(),
        }
    }

    /// Entries currently held (approximate: moka applies writes in batches).
    ///
    /// ```
    /// assert_eq!(wechat_auth::store::MemoryStore::new().entry_count(), 0);
    /// ```
    pub fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Bytes of keys and values currently held (approximate).
    ///
    /// ```
    /// assert_eq!(wechat_auth::store::MemoryStore::new().weighted_bytes(), 0);
    /// ```
    pub fn weighted_bytes(&self) -> u64 {
        self.cache.weighted_size()
    }

    fn entry(value: Vec<u8>, ttl: Duration) -> Entry {
        Entry {
            value: value.into(),
            ttl: ttl.max(Duration::from_millis(1)),
        }
    }
}

/// Subscribers that fall this far behind lose the oldest messages.
const TOPIC_BUFFER: usize = 16;

impl Store for MemoryStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        Box::pin(async move { Ok(self.cache.get(key).await.map(|e| e.value.to_vec())) })
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.cache
                .insert(key.to_owned(), Self::entry(value, ttl))
                .await;
            Ok(())
        })
    }

    fn set_if_absent<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let entry = self
                .cache
                .entry(key.to_owned())
                .or_insert_with(async move { Self::entry(value, ttl) })
                .await;
            Ok(entry.is_fresh())
        })
    }

    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        Box::pin(async move { Ok(self.cache.remove(key).await.map(|e| e.value.to_vec())) })
    }

    fn delete_if_eq<'a>(
        &'a self,
        key: &'a str,
        expected: &'a [u8],
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let result = self
                .cache
                .entry(key.to_owned())
                .and_compute_with(|current| {
                    let op = match current {
                        Some(e) if &*e.value().value == expected => Op::Remove,
                        _ => Op::Nop,
                    };
                    std::future::ready(op)
                })
                .await;
            Ok(matches!(result, moka::ops::compute::CompResult::Removed(_)))
        })
    }

    fn publish<'a>(&'a self, topic: &'a str, message: Vec<u8>) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(tx) = topics.get(topic)
                && tx.send(message).is_err()
            {
                topics.remove(topic);
            }
            Ok(())
        })
    }

    fn subscribe<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, StoreResult<Subscription>> {
        Box::pin(async move {
            let rx = {
                let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
                topics.retain(|_, tx| tx.receiver_count() > 0);
                topics
                    .entry(topic.to_owned())
                    .or_insert_with(|| broadcast::channel(TOPIC_BUFFER).0)
                    .subscribe()
            };
            let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                loop {
                    match rx.recv().await {
                        Ok(msg) => return Some((msg, rx)),
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            });
            Ok(Subscription::new(stream))
        })
    }

    fn revoke<'a>(&'a self, entry: &'a Revocation) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let now = now_unix();
            let mut revoked = self.revoked.lock().unwrap_or_else(|e| e.into_inner());
            revoked.retain(|_, r| r.until > now);
            if entry.until > now {
                revoked
                    .entry(entry.family.clone())
                    .and_modify(|r| r.merge(entry))
                    .or_insert_with(|| entry.clone());
            }
            Ok(())
        })
    }

    fn revoked(&self) -> BoxFuture<'_, StoreResult<Vec<Revocation>>> {
        Box::pin(async move {
            let now = now_unix();
            let revoked = self.revoked.lock().unwrap_or_else(|e| e.into_inner());
            Ok(revoked
                .values()
                .filter(|r| r.until > now)
                .cloned()
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ttl_expires_entries() {
        let s = MemoryStore::new();
        s.set("a", b"1".to_vec(), Duration::from_millis(50))
            .await
            .unwrap();
        assert!(s.get("a").await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(s.get("a").await.unwrap().is_none());
        // An expired key can be claimed again.
        assert!(
            s.set_if_absent("a", b"2".to_vec(), Duration::from_secs(5))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn exactly_one_concurrent_claim_wins() {
        let s = MemoryStore::new();
        let mut tasks = Vec::new();
        for i in 0..64u8 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.set_if_absent("claim", vec![i], Duration::from_secs(5))
                    .await
                    .unwrap()
            }));
        }
        let mut wins = 0;
        for t in tasks {
            wins += usize::from(t.await.unwrap());
        }
        assert_eq!(wins, 1);
    }

    #[tokio::test]
    async fn take_hands_the_value_to_one_caller() {
        let s = MemoryStore::new();
        s.set("k", b"v".to_vec(), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(s.take("k").await.unwrap(), Some(b"v".to_vec()));
        assert_eq!(s.take("k").await.unwrap(), None);
    }

    #[tokio::test]
    async fn delete_if_eq_only_deletes_the_expected_value() {
        let s = MemoryStore::new();
        s.set("tok", b"old".to_vec(), Duration::from_secs(5))
            .await
            .unwrap();
        assert!(!s.delete_if_eq("tok", b"other").await.unwrap());
        assert!(s.get("tok").await.unwrap().is_some());
        assert!(s.delete_if_eq("tok", b"old").await.unwrap());
        assert!(s.get("tok").await.unwrap().is_none());
        assert!(!s.delete_if_eq("missing", b"old").await.unwrap());
    }

    #[tokio::test]
    async fn publish_reaches_current_subscribers_only() {
        let s = MemoryStore::new();
        s.publish("t", b"before".to_vec()).await.unwrap();
        let mut a = s.subscribe("t").await.unwrap();
        let mut b = s.subscribe("t").await.unwrap();
        let mut other = s.subscribe("u").await.unwrap();
        s.publish("t", b"hello".to_vec()).await.unwrap();
        assert_eq!(a.next().await, Some(b"hello".to_vec()));
        assert_eq!(b.next().await, Some(b"hello".to_vec()));
        let nothing = tokio::time::timeout(Duration::from_millis(30), other.next()).await;
        assert!(nothing.is_err(), "other topic got nothing");
    }

    #[tokio::test]
    async fn stays_within_its_byte_bound() {
        let s = MemoryStore::new().with_max_bytes(64 * 1024);
        for i in 0..2_000 {
            s.set(&format!("key{i}"), vec![0u8; 200], Duration::from_secs(60))
                .await
                .unwrap();
        }
        s.cache.run_pending_tasks().await;
        assert!(s.weighted_bytes() <= 64 * 1024, "{}", s.weighted_bytes());
    }

    #[tokio::test]
    async fn revocations_are_listed_until_they_lapse() {
        let s = MemoryStore::new();
        s.revoke(&Revocation::new("live", 0, now_unix() + 60))
            .await
            .unwrap();
        s.revoke(&Revocation::new("dead", 0, now_unix() - 1))
            .await
            .unwrap();
        let list = s.revoked().await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].family, "live");
    }
}
