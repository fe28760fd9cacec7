//! [`MemoryStore`]: the in-process default store: sharded maps into slabs, bounded by what the
//! entries really take, CLOCK eviction, a TTL per entry.

use std::{
    collections::HashMap,
    hash::BuildHasher,
    mem::size_of,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use tokio::sync::broadcast;

use super::{BoxFuture, Revocation, Store, StoreError, StoreResult, Subscription};
use crate::core::clock::now_unix;

/// The default [`Store`]: in this process, bounded, every entry with its own TTL.
///
/// Fine for one instance. Several instances behind a load balancer need a shared store
/// (Redis), or a scan pushed to one instance never reaches the browser waiting on another.
///
/// The bound counts what entries really cost in memory: the key's and the value's heap
/// blocks (with the allocator's header and rounding), the entry's slot and its share of the
/// index, so a full store holds about its bound of RAM. When full, the oldest entries not
/// read since the clock hand last passed them go first (CLOCK, "second chance"), expired
/// ones before anything else; expired entries are also swept a few at a time on every write.
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
    entries: Arc<Entries>,
    topics: Arc<Mutex<Topics>>,
    revoked: Arc<Mutex<HashMap<String, Revocation>>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("entries", &self.entry_count())
            .field("weighted_bytes", &self.weighted_bytes())
            .field("max_bytes", &self.entries.max_bytes)
            .finish()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

/// Default bound on the memory the store's entries take.
const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Shards of a store whose bound allows it (a shard gets at least [`MIN_SHARD_BYTES`]).
const MAX_SHARDS: usize = 16;
const MIN_SHARD_BYTES: u64 = 1024 * 1024;
/// Slots the clock hand looks at for expired entries on every write.
const SWEEP_PER_WRITE: usize = 2;

impl MemoryStore {
    /// A store bounded to 64 MiB of entries (keys, values and their bookkeeping).
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

    /// The same store with a different bound, in bytes of memory its entries may take: keys
    /// and values with their allocation overhead, plus the store's own bookkeeping per entry.
    /// When full, the least recently useful entries go first.
    ///
    /// ```
    /// use std::time::Duration;
    /// use wechat_auth::store::{MemoryStore, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wechat_auth::store::StoreError> {
    /// let store = MemoryStore::new().with_max_bytes(1 << 20);
    /// store.set("k", vec![7; 1024], Duration::from_secs(60)).await?;
    /// assert_eq!(store.get("k").await?.map(|v| v.len()), Some(1024));
    /// assert!(store.weighted_bytes() > 1024); // the entry's real cost, bookkeeping included
    /// # Ok(()) }
    /// ```
    pub fn with_max_bytes(self, max_bytes: u64) -> Self {
        Self::with_capacity(max_bytes)
    }

    fn with_capacity(max_bytes: u64) -> Self {
        let shards = (max_bytes / MIN_SHARD_BYTES).clamp(1, MAX_SHARDS as u64) as usize;
        let budget = max_bytes / shards as u64;
        Self {
            entries: Arc::new(Entries {
                shards: (0..shards)
                    .map(|_| Mutex::new(Shard::new(budget)))
                    .collect(),
                hasher: foldhash::fast::RandomState::default(),
                epoch: Instant::now(),
                max_bytes,
            }),
            topics: Arc::default(),
            revoked: Arc::default(),
        }
    }

    /// Entries currently held (expired ones not yet swept included).
    ///
    /// ```
    /// assert_eq!(wechat_auth::store::MemoryStore::new().entry_count(), 0);
    /// ```
    pub fn entry_count(&self) -> u64 {
        let shards = self.entries.shards.iter();
        shards.map(|s| lock(s).index.len() as u64).sum()
    }

    /// The memory the entries take, as the bound counts it: keys and values with their
    /// allocation overhead, the slots and the index.
    ///
    /// ```
    /// assert!(wechat_auth::store::MemoryStore::new().weighted_bytes() < 1024);
    /// ```
    pub fn weighted_bytes(&self) -> u64 {
        let shards = self.entries.shards.iter();
        shards.map(|s| lock(s).weight()).sum()
    }
}

/// Topics with subscribers. Topics nobody listens to any more are dropped when the map has
/// doubled since the last sweep (a sweep on every subscribe made a burst of N waiting
/// browsers cost N² steps).
#[derive(Default)]
struct Topics {
    senders: HashMap<String, broadcast::Sender<Vec<u8>>>,
    swept: usize,
}

/// The entries of a [`MemoryStore`]: shards by key hash, each a map into a slab of slots.
struct Entries {
    shards: Box<[Mutex<Shard>]>,
    hasher: foldhash::fast::RandomState,
    /// Expiry times are milliseconds since this instant.
    epoch: Instant,
    max_bytes: u64,
}

impl Entries {
    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        let at = if self.shards.len() == 1 {
            0
        } else {
            // The high bits: the map inside the shard uses its own hasher.
            (self.hasher.hash_one(key) >> 40) as usize % self.shards.len()
        };
        lock(&self.shards[at])
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn expiry(&self, ttl: Duration) -> u64 {
        let ttl = ttl.max(Duration::from_millis(1)).as_millis();
        self.now()
            .saturating_add(u64::try_from(ttl).unwrap_or(u64::MAX))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One entry's place in a shard's slab; `key` and `value` are `None` for a free slot.
struct Slot {
    key: Option<Arc<str>>,
    value: Option<Arc<[u8]>>,
    /// Milliseconds since the store's epoch.
    expires: u64,
    /// Read since the clock hand last passed: spared once.
    referenced: bool,
}

impl Slot {
    const FREE: Slot = Slot {
        key: None,
        value: None,
        expires: 0,
        referenced: false,
    };
}

/// What one heap block of `n` bytes costs: glibc's malloc adds an 8-byte header and rounds
/// to 16 bytes, 32 at least.
fn heap_block(n: usize) -> u64 {
    if n == 0 {
        return 0;
    }
    ((n + 8).div_ceil(16) * 16).max(32) as u64
}

/// The heap blocks of one entry: the key (`Arc<str>`: two counters + the text) and the
/// value (`Arc<[u8]>`: the same).
fn entry_heap(key: &str, value: &[u8]) -> u64 {
    let counters = 2 * size_of::<usize>();
    heap_block(counters + key.len()) + heap_block(counters + value.len())
}

/// One shard: an index from key to slot, the slab, the clock hand and the sweep's cursor.
struct Shard {
    index: HashMap<Arc<str>, u32, foldhash::fast::RandomState>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// The CLOCK hand: moved only by eviction, so every live entry it passes is either
    /// spared once (read) or evicted.
    hand: usize,
    /// Where the sweep for expired entries looks next. Not the hand: a sweep that moved the
    /// hand skipped the entries it passed, so unread entries outlived read ones.
    swept: usize,
    /// Heap blocks of the live entries' keys and values.
    heap: u64,
    budget: u64,
}

impl Shard {
    fn new(budget: u64) -> Self {
        Self {
            index: HashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            hand: 0,
            swept: 0,
            heap: 0,
            budget,
        }
    }

    /// What the shard takes: the entries' heap blocks, the slab's slots in use (free ones
    /// are reused), the free list and the index's table (hashbrown: one control byte per
    /// bucket, buckets = capacity × 8/7).
    fn weight(&self) -> u64 {
        let buckets = (self.index.capacity() * 8).div_ceil(7);
        let table = buckets * (size_of::<(Arc<str>, u32)>() + 1);
        let slab = self.slots.len() * size_of::<Slot>();
        let free = self.free.capacity() * size_of::<u32>();
        self.heap + (table + slab + free) as u64
    }

    /// The live value of `key` at `now`; an expired one is removed.
    fn get(&mut self, key: &str, now: u64) -> Option<&mut Slot> {
        let at = *self.index.get(key)? as usize;
        if self.slots[at].expires <= now {
            self.remove_at(at);
            return None;
        }
        Some(&mut self.slots[at])
    }

    fn remove_at(&mut self, at: usize) -> Option<Arc<[u8]>> {
        let slot = std::mem::replace(&mut self.slots[at], Slot::FREE);
        let (key, value) = (slot.key?, slot.value?);
        self.index.remove(&*key);
        self.heap -= entry_heap(&key, &value);
        self.free.push(at as u32);
        Some(value)
    }

    fn remove(&mut self, key: &str, now: u64) -> Option<Arc<[u8]>> {
        let at = *self.index.get(key)? as usize;
        let live = self.slots[at].expires > now;
        let value = self.remove_at(at)?;
        live.then_some(value)
    }

    /// Stores `value` under `key` (replacing what is there), then makes room.
    fn insert(&mut self, key: &str, value: Vec<u8>, expires: u64, now: u64) {
        let heap = entry_heap(key, &value);
        if heap > self.budget {
            // Bigger than the whole shard: never kept (like any bounded cache would).
            self.remove(key, now);
            return;
        }
        let value: Arc<[u8]> = value.into();
        match self.index.get(key) {
            Some(&at) => {
                let slot = &mut self.slots[at as usize];
                let old = slot.value.replace(value);
                slot.expires = expires;
                slot.referenced = false;
                let old = old.as_deref().map_or(0, |old| entry_heap(key, old));
                self.heap = self.heap + heap - old;
            }
            None => {
                let key: Arc<str> = key.into();
                let slot = Slot {
                    key: Some(key.clone()),
                    value: Some(value),
                    expires,
                    referenced: false,
                };
                let at = match self.free.pop() {
                    Some(at) => {
                        self.slots[at as usize] = slot;
                        at
                    }
                    None => {
                        self.slots.push(slot);
                        (self.slots.len() - 1) as u32
                    }
                };
                self.index.insert(key, at);
                self.heap += heap;
            }
        }
        self.sweep(now);
        self.make_room(now);
    }

    /// Looks at the next few slots (its own cursor, not the clock hand) and drops what has
    /// expired.
    fn sweep(&mut self, now: u64) {
        for _ in 0..SWEEP_PER_WRITE.min(self.slots.len()) {
            self.swept = (self.swept + 1) % self.slots.len();
            let slot = &self.slots[self.swept];
            if slot.key.is_some() && slot.expires <= now {
                self.remove_at(self.swept);
            }
        }
    }

    /// Evicts until the shard is within its budget: expired entries and entries not read
    /// since the hand last passed go; read ones are spared once.
    fn make_room(&mut self, now: u64) {
        let mut steps = 2 * self.slots.len() + 1;
        while self.weight() > self.budget && !self.index.is_empty() && steps > 0 {
            steps -= 1;
            self.hand = (self.hand + 1) % self.slots.len();
            let slot = &mut self.slots[self.hand];
            if slot.key.is_none() {
                continue;
            }
            if slot.referenced && slot.expires > now {
                slot.referenced = false;
                continue;
            }
            self.remove_at(self.hand);
        }
    }
}

/// Subscribers that fall this far behind lose the oldest messages.
const TOPIC_BUFFER: usize = 16;

impl Store for MemoryStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        Box::pin(async move {
            let now = self.entries.now();
            let value = self.entries.shard(key).get(key, now).and_then(|slot| {
                slot.referenced = true;
                slot.value.clone()
            });
            Ok(value.map(|v| v.to_vec()))
        })
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let (now, expires) = (self.entries.now(), self.entries.expiry(ttl));
            self.entries.shard(key).insert(key, value, expires, now);
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
            let (now, expires) = (self.entries.now(), self.entries.expiry(ttl));
            let mut shard = self.entries.shard(key);
            if shard.get(key, now).is_some() {
                return Ok(false);
            }
            shard.insert(key, value, expires, now);
            Ok(true)
        })
    }

    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        Box::pin(async move {
            let now = self.entries.now();
            let value = self.entries.shard(key).remove(key, now);
            Ok(value.map(|v| v.to_vec()))
        })
    }

    fn delete_if_eq<'a>(
        &'a self,
        key: &'a str,
        expected: &'a [u8],
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let now = self.entries.now();
            let mut shard = self.entries.shard(key);
            let matches = shard
                .get(key, now)
                .is_some_and(|s| s.value.as_deref() == Some(expected));
            if matches {
                shard.remove(key, now);
            }
            Ok(matches)
        })
    }

    fn increment<'a>(&'a self, key: &'a str, ttl: Duration) -> BoxFuture<'a, StoreResult<u64>> {
        Box::pin(async move {
            let now = self.entries.now();
            let mut shard = self.entries.shard(key);
            let (count, expires) = match shard.get(key, now) {
                None => (0, self.entries.expiry(ttl)),
                Some(slot) => {
                    let count = slot
                        .value
                        .as_deref()
                        .and_then(|v| std::str::from_utf8(v).ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .ok_or_else(|| StoreError::Corrupt {
                            key: key.to_owned(),
                            detail: "not a counter".to_owned(),
                        })?;
                    (count, slot.expires)
                }
            };
            let count = count.saturating_add(1);
            shard.insert(key, count.to_string().into_bytes(), expires, now);
            Ok(count)
        })
    }

    fn publish<'a>(&'a self, topic: &'a str, message: Vec<u8>) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let mut topics = lock(&self.topics);
            if let Some(tx) = topics.senders.get(topic)
                && tx.send(message).is_err()
            {
                topics.senders.remove(topic);
            }
            Ok(())
        })
    }

    fn subscribe<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, StoreResult<Subscription>> {
        Box::pin(async move {
            let rx = {
                let mut topics = lock(&self.topics);
                if topics.senders.len() > 2 * topics.swept + 64 {
                    topics.senders.retain(|_, tx| tx.receiver_count() > 0);
                    topics.swept = topics.senders.len();
                }
                topics
                    .senders
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

    fn is_local(&self) -> bool {
        true
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
    async fn topics_nobody_listens_to_are_dropped() {
        let s = MemoryStore::new();
        for i in 0..1_000 {
            drop(s.subscribe(&format!("t{i}")).await.unwrap());
        }
        let held = lock(&s.topics).senders.len();
        assert!(held < 200, "{held} topics kept for nobody");
        let mut live = s.subscribe("live").await.unwrap();
        for i in 0..1_000 {
            drop(s.subscribe(&format!("u{i}")).await.unwrap());
        }
        s.publish("live", b"still here".to_vec()).await.unwrap();
        assert_eq!(live.next().await, Some(b"still here".to_vec()));
    }

    #[tokio::test]
    async fn stays_within_its_byte_bound() {
        let s = MemoryStore::new().with_max_bytes(64 * 1024);
        for i in 0..2_000 {
            s.set(&format!("key{i}"), vec![0u8; 200], Duration::from_secs(60))
                .await
                .unwrap();
        }
        assert!(s.weighted_bytes() <= 64 * 1024, "{}", s.weighted_bytes());
        // Full, it still holds most of what fits, and the newest entries.
        let held = s.entry_count();
        assert!(held > 100 && held < 2_000, "{held}");
        assert!(s.get("key1999").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn the_bound_counts_what_entries_really_take() {
        let s = MemoryStore::new().with_max_bytes(1 << 20);
        s.set("k", vec![1; 100], Duration::from_secs(60))
            .await
            .unwrap();
        // Key and value blocks with their allocator headers, the slot and the index.
        let one = s.weighted_bytes();
        assert!(one >= 100 + 1 + 2 * 16 + size_of::<Slot>() as u64, "{one}");
        // Replacing a value accounts the new size, not both.
        s.set("k", vec![1; 1000], Duration::from_secs(60))
            .await
            .unwrap();
        let replaced = s.weighted_bytes();
        assert!(
            replaced > one + 800 && replaced < one + 1000,
            "{one} → {replaced}"
        );
        assert_eq!(s.take("k").await.unwrap().map(|v| v.len()), Some(1000));
        assert!(s.weighted_bytes() < one, "the blocks are given back");
        assert_eq!(s.entry_count(), 0);
    }

    #[tokio::test]
    async fn a_full_store_spares_what_was_read_and_never_keeps_the_oversized() {
        let s = MemoryStore::new().with_max_bytes(64 * 1024);
        assert_eq!(s.entries.shards.len(), 1, "one shard: one clock hand");
        // Looks without reading (a `get` would mark the entry as read).
        let held = |i: usize| {
            lock(&s.entries.shards[0])
                .index
                .contains_key(&*format!("cold{i}"))
        };
        s.set("hot", vec![0; 200], Duration::from_secs(60))
            .await
            .unwrap();
        // The unread entries held when the store first filled, and the oldest still held.
        let (mut first_fill, mut oldest) = (None, 0);
        for i in 0..2_000 {
            // Read on every round, so the clock hand spares it each time it passes.
            assert!(s.get("hot").await.unwrap().is_some(), "evicted at {i}");
            s.set(&format!("cold{i}"), vec![0; 200], Duration::from_secs(60))
                .await
                .unwrap();
            while oldest < i && !held(oldest) {
                oldest += 1;
            }
            if first_fill.is_none() && s.entry_count() < i as u64 + 2 {
                first_fill = Some(i); // the first eviction: hot and cold0..=i no longer fit
            }
            // Until the hand has passed all of them once, they go strictly oldest first:
            // an unread entry skipped by the hand would be a survivor behind a gap.
            if let Some(end) = first_fill.filter(|&end| oldest < end) {
                let gap = (oldest..end).find(|&j| !held(j));
                assert_eq!(gap, None, "round {i}: cold{oldest} held, a newer one went");
            }
        }
        let first_fill = first_fill.expect("the store filled");
        assert!(first_fill > 100 && first_fill < 2_000, "{first_fill}");
        assert!(oldest > first_fill, "every entry of the first fill went");
        assert!(s.get("cold0").await.unwrap().is_none(), "the oldest went");
        s.set("huge", vec![0; 128 * 1024], Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(s.get("huge").await.unwrap(), None);
        assert!(s.weighted_bytes() <= 64 * 1024);
    }

    #[tokio::test]
    async fn expired_entries_are_swept_by_later_writes() {
        let s = MemoryStore::new().with_max_bytes(1 << 20); // one shard
        assert_eq!(s.entries.shards.len(), 1);
        for i in 0..100 {
            s.set(&format!("short{i}"), vec![0; 10], Duration::from_millis(1))
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        for i in 0..100 {
            s.set(&format!("long{i}"), vec![0; 10], Duration::from_secs(60))
                .await
                .unwrap();
        }
        assert_eq!(s.entry_count(), 100, "the writes swept every expired entry");
        assert!(!s.delete_if_eq("short1", &[0; 10]).await.unwrap());
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
