//! A [`Store`] wrapper that counts and records every write (key and TTL) and every read, so
//! a test can assert "no store write where none belongs", look at what was written, and
//! make the store slow or unavailable on demand.
#![allow(dead_code, unreachable_pub)]

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use wechat_auth::store::{
    BoxFuture, MemoryStore, Revocation, Store, StoreError, StoreResult, Subscription,
};

/// Counts, records and optionally breaks the calls to an inner store.
#[derive(Debug)]
pub struct CountingStore {
    inner: Arc<dyn Store>,
    writes: AtomicU64,
    reads: AtomicU64,
    log: Mutex<Vec<(String, Duration)>>,
    down: AtomicBool,
    delay_ms: AtomicU64,
}

impl CountingStore {
    /// Around a fresh [`MemoryStore`].
    pub fn memory() -> Arc<Self> {
        Self::around(Arc::new(MemoryStore::new()))
    }

    /// Around `inner`.
    pub fn around(inner: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            writes: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
            down: AtomicBool::new(false),
            delay_ms: AtomicU64::new(0),
        })
    }

    /// Writes that changed something so far: every set, increment and revoke, a set_if_absent that
    /// stored, a take that removed, a delete_if_eq that deleted. (A refused
    /// set_if_absent is a check, not a write.)
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// Reads so far (get, revoked).
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::SeqCst)
    }

    /// Every `set` / `set_if_absent`: key and TTL.
    pub fn written(&self) -> Vec<(String, Duration)> {
        self.log.lock().unwrap().clone()
    }

    /// Every call fails with a store error while `down`.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Every call waits this long first.
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms
            .store(u64::try_from(delay.as_millis()).unwrap(), Ordering::SeqCst);
    }

    fn write(&self) {
        self.writes.fetch_add(1, Ordering::SeqCst);
    }

    async fn gate(&self) -> StoreResult<()> {
        let ms = self.delay_ms.load(Ordering::SeqCst);
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::unavailable("test: store down"));
        }
        Ok(())
    }
}

impl Store for CountingStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        Box::pin(async move {
            self.gate().await?;
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.get(key).await
        })
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.gate().await?;
            self.write();
            self.log.lock().unwrap().push((key.to_owned(), ttl));
            self.inner.set(key, value, ttl).await
        })
    }

    fn set_if_absent<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            self.gate().await?;
            let stored = self.inner.set_if_absent(key, value, ttl).await?;
            if stored {
                self.write();
                self.log.lock().unwrap().push((key.to_owned(), ttl));
            }
            Ok(stored)
        })
    }

    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        Box::pin(async move {
            self.gate().await?;
            let taken = self.inner.take(key).await?;
            if taken.is_some() {
                self.write();
            }
            Ok(taken)
        })
    }

    fn delete_if_eq<'a>(
        &'a self,
        key: &'a str,
        expected: &'a [u8],
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            self.gate().await?;
            let deleted = self.inner.delete_if_eq(key, expected).await?;
            if deleted {
                self.write();
            }
            Ok(deleted)
        })
    }

    fn increment<'a>(&'a self, key: &'a str, ttl: Duration) -> BoxFuture<'a, StoreResult<u64>> {
        Box::pin(async move {
            self.gate().await?;
            self.write();
            self.log.lock().unwrap().push((key.to_owned(), ttl));
            self.inner.increment(key, ttl).await
        })
    }

    fn publish<'a>(&'a self, topic: &'a str, message: Vec<u8>) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.gate().await?;
            self.inner.publish(topic, message).await
        })
    }

    fn subscribe<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, StoreResult<Subscription>> {
        Box::pin(async move {
            self.gate().await?;
            self.inner.subscribe(topic).await
        })
    }

    fn revoke<'a>(&'a self, entry: &'a Revocation) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.gate().await?;
            self.write();
            self.inner.revoke(entry).await
        })
    }

    fn revoked(&self) -> BoxFuture<'_, StoreResult<Vec<Revocation>>> {
        Box::pin(async move {
            self.gate().await?;
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.revoked().await
        })
    }

    // The combined operations (`lock_or_get`, `set_and_publish`) keep their default, made of
    // the calls above, so they are counted as those calls.

    fn is_local(&self) -> bool {
        self.inner.is_local()
    }
}
