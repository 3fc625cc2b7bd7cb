//! Token buckets: the budgets the room charges (per member, per room, per socket, per client
//! address). Pure integer arithmetic on synthetic time.

use crate::room::RoomConfig;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Client addresses whose HTTP read budget is kept at most (see [`AddressBudgets`]).
pub const HTTP_READERS_MAX: usize = 1_024;

/// A token bucket in thousandths of a token, so refill is exact integer arithmetic
/// (`elapsed_ms * per_sec` thousandths). Used for members' messages, the room's messages and
/// each socket's frames; the caller passes the size and rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Thousandths of a message available.
    pub milli: u64,
    /// When `milli` was last brought up to date.
    pub at_ms: u64,
}

impl Bucket {
    pub fn full_of(burst: u32, now_ms: u64) -> Self {
        Self { milli: u64::from(burst) * 1000, at_ms: now_ms }
    }

    pub fn full(config: &RoomConfig, now_ms: u64) -> Self {
        Self::full_of(config.rate_burst, now_ms)
    }

    pub fn refill_of(&mut self, burst: u32, per_sec: u32, now_ms: u64) {
        // Time never goes backwards for the bucket, even if the caller's clock does.
        let elapsed = now_ms.saturating_sub(self.at_ms);
        let cap = u64::from(burst) * 1000;
        self.milli = self.milli.saturating_add(elapsed.saturating_mul(u64::from(per_sec))).min(cap);
        self.at_ms = self.at_ms.max(now_ms);
    }

    /// Whether the bucket will be full by `now_ms` (so forgetting it changes nothing).
    pub fn is_full_at(&self, burst: u32, per_sec: u32, now_ms: u64) -> bool {
        let mut b = *self;
        b.refill_of(burst, per_sec, now_ms);
        b.milli >= u64::from(burst) * 1000
    }

    /// Whether, left alone from `now_ms`, the bucket is full again within `within_ms`.
    pub fn full_within(&self, burst: u32, per_sec: u32, now_ms: u64, within_ms: u64) -> bool {
        self.is_full_at(burst, per_sec, now_ms.saturating_add(within_ms))
    }

    /// Takes `cost` tokens, or says how long until there are that many (never more than a
    /// minute: a rate of 0 is a misconfiguration, not a reason to make clients wait forever
    /// or hand them a number JavaScript cannot hold).
    pub fn take_of(&mut self, cost: u32, burst: u32, per_sec: u32, now_ms: u64) -> Result<(), u64> {
        self.refill_of(burst, per_sec, now_ms);
        let need = u64::from(cost) * 1000;
        if self.milli >= need {
            self.milli -= need;
            Ok(())
        } else if per_sec == 0 {
            Err(60_000)
        } else {
            Err((need - self.milli).div_ceil(u64::from(per_sec)).min(60_000))
        }
    }

    /// Takes one message's worth from a member's bucket, or says how long until there is one.
    pub fn take(&mut self, config: &RoomConfig, now_ms: u64) -> Result<(), u64> {
        self.take_of(1, config.rate_burst, config.rate_per_sec, now_ms)
    }
}

/// Token buckets per client address, bounded: past [`HTTP_READERS_MAX`] addresses, buckets
/// that have refilled are forgotten (they change nothing), then the least recently used.
/// Memory only: an evicted room forgets them, after seconds of quiet that refill them anyway.
#[derive(Debug, Default)]
pub struct AddressBudgets {
    buckets: HashMap<String, Bucket>,
}

impl AddressBudgets {
    pub fn take(&mut self, ip: &str, cost: u32, burst: u32, per_sec: u32, now_ms: u64) -> Result<(), u64> {
        if !self.buckets.contains_key(ip) && self.buckets.len() >= HTTP_READERS_MAX {
            self.buckets.retain(|_, b| !b.is_full_at(burst, per_sec, now_ms));
            if self.buckets.len() >= HTTP_READERS_MAX {
                if let Some(oldest) = self.buckets.iter().min_by_key(|(_, b)| b.at_ms).map(|(k, _)| k.clone()) {
                    self.buckets.remove(&oldest);
                }
            }
        }
        let bucket = self.buckets.entry(ip.to_owned()).or_insert_with(|| Bucket::full_of(burst, now_ms));
        bucket.take_of(cost, burst, per_sec, now_ms)
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no address has a bucket.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}
