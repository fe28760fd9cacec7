//! A string-keyed map with a size cap, for codes, tokens and tickets.
//!
//! Expired entries stay while there is room (so a test that time-travels still gets
//! "expired" rather than "unknown"), and go first when the map is full; if nothing has
//! expired, the oldest entries go.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

/// Something with an end of life.
pub(crate) trait Expiring {
    /// When the entry stops being useful.
    fn expires_at(&self) -> SystemTime;
}

#[derive(Debug)]
pub(crate) struct Bounded<V> {
    map: HashMap<String, (u64, V)>,
    order: BTreeMap<u64, String>,
    seq: u64,
    cap: usize,
}

impl<V: Expiring> Bounded<V> {
    pub(crate) fn new(cap: usize) -> Self {
        Bounded {
            map: HashMap::new(),
            order: BTreeMap::new(),
            seq: 0,
            cap: cap.max(8),
        }
    }

    pub(crate) fn insert(&mut self, key: String, value: V, now: SystemTime) {
        self.remove(&key);
        if self.map.len() >= self.cap {
            self.make_room(now);
        }
        self.seq += 1;
        self.order.insert(self.seq, key.clone());
        self.map.insert(key, (self.seq, value));
    }

    /// Drops every expired entry, then the oldest ones until an eighth of the cap is free,
    /// so the O(n) sweep runs at most once per `cap / 8` inserts.
    fn make_room(&mut self, now: SystemTime) {
        let expired: Vec<String> = self
            .map
            .iter()
            .filter(|(_, (_, v))| v.expires_at() <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in expired {
            self.remove(&k);
        }
        let target = self.cap - self.cap / 8;
        while self.map.len() >= target {
            let Some((_, key)) = self.order.pop_first() else {
                break;
            };
            self.map.remove(&key);
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        self.map.get(key).map(|(_, v)| v)
    }

    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.map.get_mut(key).map(|(_, v)| v)
    }

    pub(crate) fn remove(&mut self, key: &str) -> Option<V> {
        let (seq, v) = self.map.remove(key)?;
        self.order.remove(&seq);
        Some(v)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.map.iter().map(|(k, (_, v))| (k, v))
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    struct E(SystemTime);
    impl Expiring for E {
        fn expires_at(&self) -> SystemTime {
            self.0
        }
    }

    #[test]
    fn stays_under_cap_and_drops_expired_first() {
        let now = SystemTime::now();
        let mut m = Bounded::new(16);
        m.insert("keep".into(), E(now + Duration::from_secs(60)), now);
        for i in 0..15 {
            m.insert(format!("old{i}"), E(now - Duration::from_secs(1)), now);
        }
        assert_eq!(m.len(), 16);
        m.insert("new".into(), E(now + Duration::from_secs(60)), now);
        assert!(m.get("keep").is_some() && m.get("new").is_some());
        assert_eq!(m.len(), 2);
        for i in 0..100 {
            m.insert(format!("live{i}"), E(now + Duration::from_secs(60)), now);
        }
        assert!(m.len() <= 16);
        assert!(m.get("live99").is_some());
        assert!(
            m.get("keep").is_none(),
            "oldest live entry evicted when full"
        );
    }
}
