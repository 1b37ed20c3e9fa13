//! The verdict cache: verdicts by (policy generation, rule, repository, digest),
//! positive ones for a while and negative ones for a shorter while, bounded in
//! size; concurrent lookups of one digest share one slot, so one lookup is made.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;
use std::time::{Duration, Instant};

/// What a verdict is cached under.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    pub(crate) generation: u64,
    /// The rule's position in the policy of `generation` (`None`: `unmatched`):
    /// its identity. Two rules may share a name in a policy built in code; their
    /// verdicts must not be shared.
    pub(crate) rule: Option<usize>,
    /// `registry/repository`: signatures live beside the image, so the same digest in
    /// another repository has its own verdict.
    pub(crate) repository: String,
    pub(crate) digest: String,
}

/// A verdict, and when it was reached.
#[derive(Clone)]
pub(crate) struct Cached {
    pub(crate) verified: bool,
    pub(crate) reason: String,
    pub(crate) at: Instant,
}

/// Where one verdict is, or is being, reached: concurrent lookups of one digest share it.
#[derive(Default)]
pub(crate) struct Slot {
    pub(crate) cell: tokio::sync::OnceCell<Cached>,
}

/// The cache itself: at most `capacity` slots, whether they hold a verdict or a
/// lookup still under way, the least recently used dropped first in O(1) (a flood of
/// distinct digests costs one eviction per insert, not a scan under the lock). A
/// dropped slot still under way finishes for whoever waits on it, uncached.
pub(crate) struct VerdictCache {
    slots: Mutex<LruCache<CacheKey, Arc<Slot>>>,
}

impl VerdictCache {
    /// An empty cache of at most `capacity` slots (at least one).
    pub(crate) fn new(capacity: usize) -> VerdictCache {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        VerdictCache { slots: Mutex::new(LruCache::new(capacity)) }
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<CacheKey, Arc<Slot>>> {
        match self.slots.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// How many slots the cache holds (verdicts and lookups under way).
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Drops every verdict of another generation than `generation`.
    pub(crate) fn keep_generation(&self, generation: u64) {
        let mut cache = self.lock();
        let old: Vec<CacheKey> =
            cache.iter().filter(|(k, _)| k.generation != generation).map(|(k, _)| k.clone()).collect();
        for key in old {
            cache.pop(&key);
        }
    }

    /// The slot for `key`: a live one, or a new one (the least recently used dropped when
    /// the cache is full). A positive verdict lives for `ttl`, a negative one for `negative_ttl`.
    pub(crate) fn slot(&self, key: &CacheKey, ttl: Duration, negative_ttl: Duration) -> Arc<Slot> {
        let now = Instant::now();
        let live = |slot: &Slot| match slot.cell.get() {
            None => true,
            Some(c) => {
                let ttl = if c.verified { ttl } else { negative_ttl };
                now.duration_since(c.at) < ttl
            }
        };
        let mut cache = self.lock();
        if let Some(slot) = cache.get(key)
            && live(slot)
        {
            return slot.clone();
        }
        let slot = Arc::new(Slot::default());
        cache.put(key.clone(), slot.clone());
        slot
    }

    /// Drops `slot` from under `key` if it is still there: a lookup that failed leaves
    /// no verdict, so its slot must not hold a place (the next review asks again).
    pub(crate) fn forget(&self, key: &CacheKey, slot: &Arc<Slot>) {
        let mut cache = self.lock();
        if cache.peek(key).is_some_and(|held| Arc::ptr_eq(held, slot)) {
            cache.pop(key);
        }
    }
}
