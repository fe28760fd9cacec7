//! One distributed single flight: of all the callers, on every instance, that need the
//! value under one key, one computes it and the others wait for it.
//!
//! 1. a ready value under the key answers at once;
//! 2. otherwise the caller tries to take the key's lock (a random owner and a TTL, so a
//!    crashed owner cannot hold it for ever) — steps 1 and 2 are one store round trip,
//!    [`Store::lock_or_get`];
//! 3. a caller that did not get it subscribes to the key's topic, looks again, and waits
//!    for the owner's notification (no polling), then looks again — and takes the lock
//!    itself if the owner gave up;
//! 4. the owner finishes by storing the value, notifying and releasing the lock in one
//!    round trip ([`Store::set_and_publish`]), or gives up; either way it releases the lock
//!    only if it still holds it (compare-and-delete on its owner id), so a slow owner whose
//!    lock lapsed never frees someone else's.
//!
//! Used by the code exchange (a code is exchanged once), the global access token (one fetch
//! for the fleet) and the scan claim (a re-delivered push confirms once).

use std::time::Duration;

use super::{LockOrValue, Store, StoreResult, Subscription, keys::Key};
use crate::core::clock::random_token;

/// What a caller of [`join`] is to do.
pub(crate) enum Turn<'a> {
    /// The value is there.
    Ready(Vec<u8>),
    /// This caller holds the lock: compute the value, then [`Lease::finish`] or
    /// [`Lease::give_up`].
    Mine(Lease<'a>),
    /// Another caller holds the lock and did not finish within the wait.
    Busy,
}

/// The lock of one single flight, held by this caller.
pub(crate) struct Lease<'a> {
    store: &'a dyn Store,
    key: &'a Key,
    lock: Key,
    owner: String,
}

/// Joins the single flight over `key`. A stored value counts only when `ready` accepts it
/// (a token about to expire does not). The lock is held at most `lock_ttl`; a caller that
/// does not get it waits at most `wait` (zero: not at all) for the owner's value.
///
/// Uncontended, this is one store round trip ([`Store::lock_or_get`]); only a caller that
/// has to wait subscribes to the key's topic, and it looks again once subscribed, so a value
/// stored (or a lock given up) in between still reaches it.
pub(crate) async fn join<'a>(
    store: &'a dyn Store,
    key: &'a Key,
    ready: impl Fn(&[u8]) -> bool,
    lock_ttl: Duration,
    wait: Duration,
) -> StoreResult<Turn<'a>> {
    let deadline = tokio::time::Instant::now() + wait;
    let lock = key.lock();
    let mut notified: Option<Subscription> = None;
    loop {
        let owner = random_token(16);
        let mine = match store
            .lock_or_get(key, &lock, owner.clone().into_bytes(), lock_ttl)
            .await?
        {
            LockOrValue::Value(v) if ready(&v) => return Ok(Turn::Ready(v)),
            // A value that is no longer good enough (a token about to expire): compute anew.
            LockOrValue::Value(_) => {
                store
                    .set_if_absent(&lock, owner.clone().into_bytes(), lock_ttl)
                    .await?
            }
            LockOrValue::Locked => true,
            LockOrValue::Busy => false,
        };
        if mine {
            return Ok(Turn::Mine(Lease {
                store,
                key,
                lock,
                owner,
            }));
        }
        if wait.is_zero() {
            return Ok(Turn::Busy);
        }
        let Some(waiting) = notified.as_mut() else {
            // Listen first, then look again: what happened before we listened is seen by
            // that look, what happens after it wakes us.
            notified = Some(store.subscribe(key).await?);
            continue;
        };
        // A notification, the deadline, or a subscription that ended: in the last two cases
        // look once more and stop waiting.
        if !matches!(
            tokio::time::timeout_at(deadline, waiting.next()).await,
            Ok(Some(_))
        ) {
            return Ok(match store.get(key).await?.filter(|v| ready(v)) {
                Some(v) => Turn::Ready(v),
                None => Turn::Busy,
            });
        }
    }
}

impl Lease<'_> {
    /// Stores the value for `ttl`, tells the waiters, and releases the lock: one store
    /// round trip ([`Store::set_and_publish`]).
    pub(crate) async fn finish(self, value: Vec<u8>, ttl: Duration) -> StoreResult<()> {
        self.store
            .set_and_publish(
                self.key,
                value,
                ttl,
                Some((&self.lock, self.owner.as_bytes())),
            )
            .await
    }

    /// [`finish`](Self::finish) with other writes of the same step sent along
    /// ([`Store::set_and_publish_with`]).
    pub(crate) async fn finish_with(
        self,
        value: Vec<u8>,
        ttl: Duration,
        also: Vec<(String, Vec<u8>, Duration)>,
    ) -> StoreResult<()> {
        self.store
            .set_and_publish_with(
                self.key,
                value,
                ttl,
                Some((&self.lock, self.owner.as_bytes())),
                also,
            )
            .await
    }

    /// Releases the lock without a value, and wakes the waiters so one of them may try.
    pub(crate) async fn give_up(self) -> StoreResult<()> {
        self.store
            .delete_if_eq(&self.lock, self.owner.as_bytes())
            .await?;
        self.store.publish(self.key, Vec::new()).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;
    use crate::core::store::MemoryStore;

    const LOCK: Duration = Duration::from_secs(5);
    const WAIT: Duration = Duration::from_secs(2);

    #[tokio::test]
    async fn one_of_many_computes_and_the_others_get_its_value() {
        let store = Arc::new(MemoryStore::new());
        let key = Key::code("wx1", "c");
        let computed = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let (store, key, computed) = (store.clone(), key.clone(), computed.clone());
                tokio::spawn(async move {
                    match join(store.as_ref(), &key, |_| true, LOCK, WAIT)
                        .await
                        .unwrap()
                    {
                        Turn::Ready(v) => v,
                        Turn::Mine(lease) => {
                            computed.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            lease.finish(b"v".to_vec(), LOCK).await.unwrap();
                            b"v".to_vec()
                        }
                        Turn::Busy => panic!("waited in vain"),
                    }
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), b"v");
        }
        assert_eq!(computed.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_waiter_takes_over_when_the_owner_gives_up() {
        let store = MemoryStore::new();
        let key = Key::of("wx1", "global_token", "current");
        let Turn::Mine(first) = join(&store, &key, |_| true, LOCK, WAIT).await.unwrap() else {
            panic!("the first caller owns the flight")
        };
        let second = join(&store, &key, |_| true, LOCK, WAIT);
        let give_up = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            first.give_up().await.unwrap();
        };
        let (turn, ()) = tokio::join!(second, give_up);
        assert!(matches!(turn.unwrap(), Turn::Mine(_)));
    }

    #[tokio::test]
    async fn not_ready_values_are_recomputed_and_zero_wait_is_busy() {
        let store = MemoryStore::new();
        let key = Key::of("wx1", "global_token", "current");
        store.set(&key, b"stale".to_vec(), LOCK).await.unwrap();
        let Turn::Mine(lease) = join(&store, &key, |v| v != b"stale", LOCK, Duration::ZERO)
            .await
            .unwrap()
        else {
            panic!("a stale value is not ready")
        };
        assert!(matches!(
            join(&store, &key, |_| false, LOCK, Duration::ZERO)
                .await
                .unwrap(),
            Turn::Busy
        ));
        lease.finish(b"fresh".to_vec(), LOCK).await.unwrap();
        assert!(matches!(
            join(&store, &key, |v| v == b"fresh", LOCK, Duration::ZERO)
                .await
                .unwrap(),
            Turn::Ready(_)
        ));
    }

    #[tokio::test]
    async fn a_lapsed_owner_does_not_release_the_next_owners_lock() {
        let store = MemoryStore::new();
        let key = Key::code("wx1", "slow");
        let short = Duration::from_millis(50);
        let Turn::Mine(slow) = join(&store, &key, |_| true, short, Duration::ZERO)
            .await
            .unwrap()
        else {
            panic!()
        };
        tokio::time::sleep(Duration::from_millis(120)).await;
        let Turn::Mine(_next) = join(&store, &key, |_| true, LOCK, Duration::ZERO)
            .await
            .unwrap()
        else {
            panic!("the lapsed lock is free")
        };
        slow.give_up().await.unwrap();
        assert!(matches!(
            join(&store, &key, |_| true, LOCK, Duration::ZERO)
                .await
                .unwrap(),
            Turn::Busy
        ));
    }
}
