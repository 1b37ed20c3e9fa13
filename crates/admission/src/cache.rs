//! The verdict cache: verdicts by (policy generation, rule, repository, digest),
//! positive ones for a while and negative ones for a shorter while, bounded in
//! size; concurrent lookups of one digest share one slot, so one lookup is made.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
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

/// The cache itself.
#[derive(Default)]
pub(crate) struct VerdictCache {
    slots: Mutex<HashMap<CacheKey, Arc<Slot>>>,
}

impl VerdictCache {
    fn lock(&self) -> MutexGuard<'_, HashMap<CacheKey, Arc<Slot>>> {
        match self.slots.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Drops every verdict of another generation than `generation`.
    pub(crate) fn keep_generation(&self, generation: u64) {
        self.lock().retain(|k, _| k.generation == generation);
    }

    /// The slot for `key`: a live one, or a new one (evicting when there are `capacity`). A
    /// positive verdict lives for `ttl`, a negative one for `negative_ttl`.
    pub(crate) fn slot(&self, key: &CacheKey, ttl: Duration, negative_ttl: Duration, capacity: usize) -> Arc<Slot> {
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
        if cache.len() >= capacity.max(1) {
            cache.retain(|_, s| live(s));
            while cache.len() >= capacity.max(1) {
                let oldest = cache
                    .iter()
                    .filter_map(|(k, s)| s.cell.get().map(|c| (k.clone(), c.at)))
                    .min_by_key(|(_, at)| *at)
                    .map(|(k, _)| k);
                match oldest {
                    Some(k) => cache.remove(&k),
                    None => break,
                };
            }
        }
        let slot = Arc::new(Slot::default());
        cache.insert(key.clone(), slot.clone());
        slot
    }
}
