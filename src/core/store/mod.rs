//! Server-side state: the [`Store`] trait, its in-process default [`MemoryStore`], and
//! `RedisStore` (cargo feature `redis`) for several instances sharing one site.
//!
//! Everything the layer must remember between requests lives behind one small trait: WeChat
//! user tokens and userinfo, codes already exchanged, pending scan scenes, the Official
//! Account's global access token, and the session deny-list. Values are opaque bytes with a
//! TTL, plus the few atomic operations the flows need (claim a key once, take a key once,
//! delete a key only if it still holds a value, count up a shared counter) and a notification channel (a waiting browser
//! wakes up when its scan is confirmed). That is all a shared store such as Redis must offer
//! for several instances to serve one site.
//!
//! | Store | Where the state lives | For |
//! |---|---|---|
//! | [`MemoryStore`] (default) | this process (bounded by real memory, TTLs) | one instance |
//! | `RedisStore` (feature `redis`) | a Redis 6.2+ server | any number of instances |
//!
//! ```
//! use std::time::Duration;
//! use wechat_auth::store::{MemoryStore, Store};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wechat_auth::store::StoreError> {
//! let store = MemoryStore::new();
//! assert!(store.set_if_absent("lock", b"me".to_vec(), Duration::from_secs(5)).await?);
//! assert!(!store.set_if_absent("lock", b"you".to_vec(), Duration::from_secs(5)).await?);
//! assert_eq!(store.take("lock").await?, Some(b"me".to_vec()));
//! # Ok(()) }
//! ```

use std::{fmt, future::Future, pin::Pin, time::Duration};

use futures_util::{Stream, StreamExt};
use serde::{Serialize, de::DeserializeOwned};

pub(crate) mod flight;
pub(crate) mod keys;
mod memory;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
mod redis;

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::RedisStore;
pub use memory::MemoryStore;

/// A boxed, sendable future: what [`Store`] methods return, so the trait stays object safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The result of a [`Store`] operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// Why a [`Store`] operation failed.
///
/// `Debug` prints the same message (then the variant), because that is what Rust prints when
/// `main` returns the error: `RedisStore::connect(url).await?` in a `main` returning
/// `Result<(), Box<dyn std::error::Error>>` ends with `Error: session store unavailable: …`.
/// URLs in the message have their password replaced by `***`.
///
/// ```
/// let e = wechat_auth::store::StoreError::unavailable("connection refused");
/// assert!(e.to_string().contains("unavailable"));
/// assert_eq!(
///     format!("{e:?}"),
///     "session store unavailable: connection refused (StoreError::Unavailable)"
/// );
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store cannot be reached (Redis down, pool exhausted, …). The layer answers 503.
    #[error("session store unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A value in the store could not be read back (written by another version?).
    #[error("session store holds an unreadable value under {key:?}: {detail}")]
    Corrupt {
        /// The key that held the value.
        key: String,
        /// What was wrong with it.
        detail: String,
    },
}

/// The message a person can act on, then the variant (what `main` returning it prints).
impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let variant = match self {
            Self::Unavailable(_) => "Unavailable",
            Self::Corrupt { .. } => "Corrupt",
        };
        write!(f, "{self} (StoreError::{variant})")
    }
}

impl StoreError {
    /// A [`StoreError::Unavailable`] from any error or message.
    ///
    /// ```
    /// let e = wechat_auth::store::StoreError::unavailable("timed out");
    /// assert!(matches!(e, wechat_auth::store::StoreError::Unavailable(_)));
    /// ```
    pub fn unavailable(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Unavailable(source.into())
    }
}

/// A stream of messages published on one topic, from [`Store::subscribe`].
///
/// ```
/// use wechat_auth::store::{MemoryStore, Store};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wechat_auth::store::StoreError> {
/// let store = MemoryStore::new();
/// let mut sub = store.subscribe("scan:abc").await?;
/// store.publish("scan:abc", b"confirmed".to_vec()).await?;
/// assert_eq!(sub.next().await, Some(b"confirmed".to_vec()));
/// # Ok(()) }
/// ```
pub struct Subscription {
    inner: Pin<Box<dyn Stream<Item = Vec<u8>> + Send>>,
}

impl Subscription {
    /// Wraps any stream of messages (for [`Store`] implementations).
    ///
    /// ```
    /// use wechat_auth::store::Subscription;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut sub = Subscription::new(futures_util::stream::iter([b"scanned".to_vec()]));
    /// assert_eq!(sub.next().await, Some(b"scanned".to_vec()));
    /// assert_eq!(sub.next().await, None); // the stream ended
    /// # }
    /// ```
    pub fn new(stream: impl Stream<Item = Vec<u8>> + Send + 'static) -> Self {
        Self {
            inner: Box::pin(stream),
        }
    }

    /// The next message; `None` once the subscription has ended.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut sub = wechat_auth::store::Subscription::new(futures_util::stream::iter([b"x".to_vec()]));
    /// assert_eq!(sub.next().await, Some(b"x".to_vec()));
    /// assert_eq!(sub.next().await, None);
    /// # }
    /// ```
    pub async fn next(&mut self) -> Option<Vec<u8>> {
        self.inner.next().await
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Subscription")
    }
}

/// Where the layer keeps server-side state.
///
/// Keys are plain strings, already namespaced by the layer (`wechat-auth:APPID:…`); values
/// are opaque bytes. Every key written has a TTL: nothing the layer writes lives forever.
/// Implement it to put the state somewhere else; [`MemoryStore`] is the default.
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use wechat_auth::store::{MemoryStore, Store};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wechat_auth::store::StoreError> {
/// let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
/// store.set("k", b"v".to_vec(), Duration::from_secs(60)).await?;
/// assert_eq!(store.get("k").await?, Some(b"v".to_vec()));
/// # Ok(()) }
/// ```
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// The value under `key`, if present and not expired.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>>;

    /// Stores `value` under `key` for `ttl`, replacing any previous value.
    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, StoreResult<()>>;

    /// Stores `value` under `key` for `ttl` only if the key is absent; `true` when stored.
    /// Exactly one of several concurrent callers wins.
    fn set_if_absent<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, StoreResult<bool>>;

    /// Removes `key` and returns what it held. Exactly one of several concurrent callers
    /// gets the value.
    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>>;

    /// Removes `key` only if it still holds `expected`; `true` when removed.
    fn delete_if_eq<'a>(
        &'a self,
        key: &'a str,
        expected: &'a [u8],
    ) -> BoxFuture<'a, StoreResult<bool>>;

    /// Adds 1 to the counter under `key` and answers the new count. A counter that does
    /// not exist (or has expired) starts from 0 and lives for `ttl` from this first
    /// increment; later increments do not move its expiry. Every caller on every instance
    /// sees a different count. The value is the count in decimal ASCII (what Redis `INCR`
    /// keeps), so [`get`](Self::get) reads it as such.
    ///
    /// ```
    /// use std::time::Duration;
    /// use wechat_auth::store::{MemoryStore, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wechat_auth::store::StoreError> {
    /// let store = MemoryStore::new();
    /// let day = Duration::from_secs(24 * 3600);
    /// assert_eq!(store.increment("qr-codes-today", day).await?, 1);
    /// assert_eq!(store.increment("qr-codes-today", day).await?, 2);
    /// assert_eq!(store.get("qr-codes-today").await?, Some(b"2".to_vec()));
    /// # Ok(()) }
    /// ```
    fn increment<'a>(&'a self, key: &'a str, ttl: Duration) -> BoxFuture<'a, StoreResult<u64>>;

    /// Sends `message` to every current subscriber of `topic` (on every instance).
    fn publish<'a>(&'a self, topic: &'a str, message: Vec<u8>) -> BoxFuture<'a, StoreResult<()>>;

    /// Subscribes to `topic`. Messages published after this returns are delivered.
    fn subscribe<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, StoreResult<Subscription>>;

    /// Adds `entry` to the deny-list, merged with the family's entry if it has one (the
    /// larger `through` and the later `until` win): one entry per family, however often it
    /// is revoked or refreshed.
    fn revoke<'a>(&'a self, entry: &'a Revocation) -> BoxFuture<'a, StoreResult<()>>;

    /// The deny-list: every entry whose `until` has not passed.
    fn revoked(&self) -> BoxFuture<'_, StoreResult<Vec<Revocation>>>;

    /// The value under `key` if there is one; else takes `lock` for `owner` for `ttl` when
    /// it is free ([`set_if_absent`](Self::set_if_absent)). Of several concurrent callers on
    /// every instance, at most one gets [`LockOrValue::Locked`] while the lock is held.
    ///
    /// The first step of a single flight (one caller computes a value, the others wait for
    /// it). The default makes two calls, [`get`](Self::get) then `set_if_absent`; a
    /// networked store should make it one round trip (`RedisStore` runs one Lua script).
    ///
    /// ```
    /// use std::time::Duration;
    /// use wechat_auth::store::{LockOrValue, MemoryStore, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wechat_auth::store::StoreError> {
    /// let store = MemoryStore::new();
    /// let ttl = Duration::from_secs(5);
    /// let first = store.lock_or_get("v", "v:lock", b"me".to_vec(), ttl).await?;
    /// assert_eq!(first, LockOrValue::Locked);
    /// let second = store.lock_or_get("v", "v:lock", b"you".to_vec(), ttl).await?;
    /// assert_eq!(second, LockOrValue::Busy);
    /// store.set("v", b"done".to_vec(), ttl).await?;
    /// let third = store.lock_or_get("v", "v:lock", b"you".to_vec(), ttl).await?;
    /// assert_eq!(third, LockOrValue::Value(b"done".to_vec()));
    /// # Ok(()) }
    /// ```
    fn lock_or_get<'a>(
        &'a self,
        key: &'a str,
        lock: &'a str,
        owner: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, StoreResult<LockOrValue>> {
        Box::pin(async move {
            if let Some(value) = self.get(key).await? {
                return Ok(LockOrValue::Value(value));
            }
            Ok(if self.set_if_absent(lock, owner, ttl).await? {
                LockOrValue::Locked
            } else {
                LockOrValue::Busy
            })
        })
    }

    /// Stores `value` under `key` for `ttl`, then [publishes](Self::publish) the value on
    /// the topic named `key` (whoever waits for it wakes up with it, and need not read it
    /// again), then, when `release` is given as `(lock, owner)`, removes `lock` if it still
    /// holds `owner` ([`delete_if_eq`](Self::delete_if_eq)).
    ///
    /// The last step of a single flight, and how a changed record wakes its watchers. The
    /// default makes the two or three calls in that order; a networked store should make it
    /// one round trip (`RedisStore` runs one Lua script).
    ///
    /// ```
    /// use std::time::Duration;
    /// use wechat_auth::store::{MemoryStore, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wechat_auth::store::StoreError> {
    /// let store = MemoryStore::new();
    /// let ttl = Duration::from_secs(5);
    /// assert!(store.set_if_absent("v:lock", b"me".to_vec(), ttl).await?);
    /// let mut waiting = store.subscribe("v").await?;
    /// store.set_and_publish("v", b"done".to_vec(), ttl, Some(("v:lock", b"me"))).await?;
    /// assert_eq!(waiting.next().await, Some(b"done".to_vec()));
    /// assert_eq!(store.get("v").await?, Some(b"done".to_vec()));
    /// assert_eq!(store.get("v:lock").await?, None);
    /// # Ok(()) }
    /// ```
    fn set_and_publish<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
        release: Option<(&'a str, &'a [u8])>,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.set(key, value.clone(), ttl).await?;
            self.publish(key, value).await?;
            if let Some((lock, owner)) = release {
                self.delete_if_eq(lock, owner).await?;
            }
            Ok(())
        })
    }

    /// The values under `keys`, in their order (`None` where there is none): what one
    /// decision needs to know about one person (what WeChat said about a follower, and the
    /// profile a web login kept). The default makes one [`get`](Self::get) per key; a
    /// networked store should make it one round trip (`RedisStore`: `MGET`; on a Cluster,
    /// keys that share a hash tag).
    ///
    /// ```
    /// use std::time::Duration;
    /// use wechat_auth::store::{MemoryStore, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wechat_auth::store::StoreError> {
    /// let store = MemoryStore::new();
    /// store.set("a", b"1".to_vec(), Duration::from_secs(5)).await?;
    /// assert_eq!(store.get_many(&["a", "b"]).await?, vec![Some(b"1".to_vec()), None]);
    /// # Ok(()) }
    /// ```
    fn get_many<'a>(
        &'a self,
        keys: &'a [&'a str],
    ) -> BoxFuture<'a, StoreResult<Vec<Option<Vec<u8>>>>> {
        Box::pin(async move {
            let mut found = Vec::with_capacity(keys.len());
            for key in keys {
                found.push(self.get(key).await?);
            }
            Ok(found)
        })
    }

    /// [`set_and_publish`](Self::set_and_publish) together with writes that belong to the
    /// same step but not to its key: each `(key, value, ttl)` of `also` is a
    /// [`set`](Self::set), made before the value is published. The writes are independent (a
    /// reader may see one before another); what they save is round trips.
    ///
    /// How a login's exchange stores what it learnt (the person's tokens) with its outcome.
    /// The default makes the calls one by one; a networked store should send them together
    /// (`RedisStore` on one server pipelines them: one round trip).
    ///
    /// ```
    /// use std::time::Duration;
    /// use wechat_auth::store::{MemoryStore, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wechat_auth::store::StoreError> {
    /// let store = MemoryStore::new();
    /// let ttl = Duration::from_secs(5);
    /// let also = vec![("tokens".to_owned(), b"t".to_vec(), ttl)];
    /// store.set_and_publish_with("v", b"done".to_vec(), ttl, None, also).await?;
    /// assert_eq!(store.get("tokens").await?, Some(b"t".to_vec()));
    /// assert_eq!(store.get("v").await?, Some(b"done".to_vec()));
    /// # Ok(()) }
    /// ```
    fn set_and_publish_with<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
        release: Option<(&'a str, &'a [u8])>,
        also: Vec<(String, Vec<u8>, Duration)>,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            for (k, v, t) in also {
                self.set(&k, v, t).await?;
            }
            self.set_and_publish(key, value, ttl, release).await
        })
    }

    /// The value under `key` and, only when there is one, `claim` taken for `owner` for
    /// `ttl` if it is free ([`set_if_absent`](Self::set_if_absent)): `None` when `key`
    /// holds nothing (then nothing is written), `Some((value, true))` when this caller took
    /// the claim, `Some((value, false))` when someone else holds it. With the claim taken,
    /// `value` is what `key` held at that moment.
    ///
    /// How a record is handled once on every instance (a scan's first report). The default
    /// makes three calls ([`get`](Self::get), `set_if_absent`, and `get` again once
    /// claimed); a networked store should make it one round trip (`RedisStore` runs one Lua
    /// script).
    ///
    /// ```
    /// use std::time::Duration;
    /// use wechat_auth::store::{MemoryStore, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wechat_auth::store::StoreError> {
    /// let store = MemoryStore::new();
    /// let ttl = Duration::from_secs(5);
    /// assert_eq!(store.get_and_claim("r", "r:claim", b"me".to_vec(), ttl).await?, None);
    /// assert_eq!(store.get("r:claim").await?, None, "nothing there: nothing written");
    /// store.set("r", b"record".to_vec(), ttl).await?;
    /// let first = store.get_and_claim("r", "r:claim", b"me".to_vec(), ttl).await?;
    /// assert_eq!(first, Some((b"record".to_vec(), true)));
    /// let second = store.get_and_claim("r", "r:claim", b"you".to_vec(), ttl).await?;
    /// assert_eq!(second, Some((b"record".to_vec(), false)));
    /// # Ok(()) }
    /// ```
    fn get_and_claim<'a>(
        &'a self,
        key: &'a str,
        claim: &'a str,
        owner: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, StoreResult<Claimed>> {
        Box::pin(async move {
            let Some(value) = self.get(key).await? else {
                return Ok(None);
            };
            if !self.set_if_absent(claim, owner, ttl).await? {
                return Ok(Some((value, false)));
            }
            // Claimed: what the record holds now (it may have moved since the first look).
            Ok(self.get(key).await?.map(|now| (now, true)))
        })
    }

    /// Whether this store keeps its state in this process, so that a cache in front of it
    /// would only hold a second copy. `false` (the default) for a store reached over the
    /// network: the layer then keeps a small bounded cache of WeChat user tokens and
    /// profiles per instance in front of it (see `WechatHandle::profile`).
    ///
    /// ```
    /// use wechat_auth::store::{MemoryStore, Store};
    /// assert!(MemoryStore::new().is_local());
    /// ```
    fn is_local(&self) -> bool {
        false
    }
}

/// What [`Store::get_and_claim`] answers: the record and whether this caller took the
/// claim (`Some((value, true))`), or `None` when there is no record.
pub type Claimed = Option<(Vec<u8>, bool)>;

/// What [`Store::lock_or_get`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockOrValue {
    /// The key holds this value (the lock was not touched).
    Value(Vec<u8>),
    /// No value, and this caller now holds the lock.
    Locked,
    /// No value, and someone else holds the lock.
    Busy,
}

/// One entry of the session deny-list: every session token of the login `family`, up to
/// and including generation `through` (the number of refreshes since the login), is
/// revoked until `until` (Unix seconds; after it those tokens have expired anyway).
///
/// A logout revokes the family through the token's own generation; a refresh revokes it
/// through the parent's. So the list holds at most one entry per login that ended early,
/// however many times its tokens were refreshed.
///
/// ```
/// let r = wechat_auth::store::Revocation::new("family-id", 3, 1_900_000_000);
/// assert_eq!((r.family.as_str(), r.through, r.until), ("family-id", 3, 1_900_000_000));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub struct Revocation {
    /// The login the tokens descend from (the first token's `jti`).
    pub family: String,
    /// The highest revoked generation.
    pub through: u32,
    /// When the entry stops mattering (Unix seconds).
    pub until: u64,
}

impl Revocation {
    /// An entry of the deny-list.
    ///
    /// ```
    /// let r = wechat_auth::store::Revocation::new("f", 0, 1);
    /// assert_eq!(r.through, 0);
    /// ```
    pub fn new(family: impl Into<String>, through: u32, until: u64) -> Self {
        Self {
            family: family.into(),
            through,
            until,
        }
    }

    /// This entry merged with a later one for the same family.
    pub(crate) fn merge(&mut self, other: &Self) {
        self.through = self.through.max(other.through);
        self.until = self.until.max(other.until);
    }
}

/// Typed helpers over [`Store`]: JSON values.
pub(crate) async fn get_json<T: DeserializeOwned>(
    store: &dyn Store,
    key: &str,
) -> StoreResult<Option<T>> {
    match store.get(key).await? {
        None => Ok(None),
        Some(bytes) => from_json(key, &bytes).map(Some),
    }
}

/// Reads a JSON value that was stored under `key`.
pub(crate) fn from_json<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        detail: e.to_string(),
    })
}

/// `value` as the JSON bytes to store under `key`.
pub(crate) fn to_json<T: Serialize>(key: &str, value: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        detail: e.to_string(),
    })
}

/// Stores `value` as JSON.
pub(crate) async fn set_json<T: Serialize>(
    store: &dyn Store,
    key: &str,
    value: &T,
    ttl: Duration,
) -> StoreResult<()> {
    store.set(key, to_json(key, value)?, ttl).await
}

/// Writes a step makes that can wait for its outcome (a login's tokens, what WeChat said
/// about a scanning follower): stored with the outcome, in the same round trip where the
/// store can ([`Store::set_and_publish_with`]).
#[derive(Clone, Default)]
pub(crate) struct Deferred(std::sync::Arc<std::sync::Mutex<Vec<Write>>>);

/// One write of [`Deferred`]: key, value, lifetime.
type Write = (String, Vec<u8>, Duration);

impl Deferred {
    /// Stores `value` under `key` for `ttl` with the outcome.
    pub(crate) fn set(&self, key: &keys::Key, value: Vec<u8>, ttl: Duration) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((key.to_string(), value, ttl));
    }

    /// The writes gathered so far (and none left here).
    pub(crate) fn take(&self) -> Vec<Write> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::StoreError;

    #[test]
    fn debug_carries_the_message_then_the_variant() {
        for (err, variant) in [
            (
                StoreError::unavailable("connection refused"),
                "StoreError::Unavailable",
            ),
            (
                StoreError::Corrupt {
                    key: "session:abc".into(),
                    detail: "not JSON".into(),
                },
                "StoreError::Corrupt",
            ),
        ] {
            let debug = format!("{err:?}");
            assert_eq!(debug, format!("{err} ({variant})"));
            assert_eq!(format!("{err:#?}"), debug);
        }
        // What `main` prints when it returns the error through `?`.
        let boxed: Box<dyn std::error::Error> = Box::new(StoreError::unavailable("timed out"));
        assert_eq!(
            format!("{boxed:?}"),
            "session store unavailable: timed out (StoreError::Unavailable)"
        );
    }
}
