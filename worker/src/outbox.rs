//! Coalesced fan-out: the frames a room has ready, and how to send them with as few socket
//! writes as possible (issue 13).
//!
//! The room serializes each event once ([`crate::room::Effect::Send`]); the glue resolves its
//! audience and queues it here. When the queue is flushed, every socket whose client reads
//! `batch` frames gets everything queued for it as **one** frame (or the frame itself, if only
//! one), and sockets that were sent the same frames share one batch text: a burst of 10
//! messages to 100 members is 100 socket writes, not 1,000. A client that did not ask for
//! batches gets each frame on its own, in order. Pure and native-tested; the glue
//! (`durable.rs`) decides *when* to flush (see [`Outbox`]).

use crate::room::SocketId;
use confab_shared::ServerFrame;
use std::collections::HashMap;

/// At most this many frames go in one `batch`; a longer run for a socket is split (a client
/// applies them in order either way; this keeps any one frame modest).
pub const BATCH_MAX: usize = 100;

/// Frames queued for sending, each with the sockets it goes to, in the order the room made
/// them.
#[derive(Debug, Default)]
pub struct Outbox {
    queued: Vec<(Vec<SocketId>, String)>,
}

/// One write to make: `text` to every socket in `to`.
#[derive(Debug, PartialEq, Eq)]
pub struct Write {
    /// A frame's JSON (a `batch`'s, when several were coalesced).
    pub text: String,
    /// Its sockets.
    pub to: Vec<SocketId>,
}

impl Outbox {
    /// Queues `text` for `to` (sockets the audience meant when the event happened).
    pub fn push(&mut self, to: Vec<SocketId>, text: String) {
        if !to.is_empty() {
            self.queued.push((to, text));
        }
    }

    /// Nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// Empties the queue into the writes that deliver it: per socket, its frames in the order
    /// they were queued; `batches` says which sockets read `batch` frames. Writes to
    /// different sockets may come in any order; each socket's own writes are in order.
    pub fn drain(&mut self, batches: impl Fn(SocketId) -> bool) -> Vec<Write> {
        let queued = std::mem::take(&mut self.queued);
        // The common case under no load: one frame, sent as is to everyone.
        if queued.len() == 1 {
            let (to, text) = queued.into_iter().next().expect("one");
            return vec![Write { text, to }];
        }
        let mut writes = Vec::new();
        // Sockets that read batches: which frames each gets, in order.
        let mut runs: HashMap<SocketId, Vec<usize>> = HashMap::new();
        // Sockets that do not: each frame on its own, in queue order.
        let mut singles: Vec<Vec<SocketId>> = vec![Vec::new(); queued.len()];
        for ((i, (to, _)), single) in queued.iter().enumerate().zip(&mut singles) {
            for &s in to {
                if batches(s) {
                    runs.entry(s).or_default().push(i);
                } else {
                    single.push(s);
                }
            }
        }
        // Sockets with the same run share one write (a broadcast's usual case: all of them).
        let mut groups: HashMap<Vec<usize>, Vec<SocketId>> = HashMap::new();
        for (s, run) in runs {
            groups.entry(run).or_default().push(s);
        }
        let mut groups: Vec<(Vec<usize>, Vec<SocketId>)> = groups.into_iter().collect();
        // Deterministic: by first frame, then by socket (the map's order is not).
        for (_, to) in &mut groups {
            to.sort_unstable();
        }
        groups.sort_unstable();
        for (run, to) in groups {
            for chunk in run.chunks(BATCH_MAX) {
                let texts: Vec<&str> = chunk.iter().filter_map(|&i| queued.get(i)).map(|(_, t)| t.as_str()).collect();
                let text = match texts.as_slice() {
                    [one] => (*one).to_owned(),
                    many => ServerFrame::batch_json(many),
                };
                writes.push(Write { text, to: to.clone() });
            }
        }
        for ((_, text), to) in queued.into_iter().zip(singles) {
            if !to.is_empty() {
                writes.push(Write { text, to });
            }
        }
        writes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What each socket receives, frame by frame, with batches unpacked.
    fn received(writes: &[Write]) -> HashMap<SocketId, Vec<String>> {
        let mut got: HashMap<SocketId, Vec<String>> = HashMap::new();
        for w in writes {
            let frames = ServerFrame::parse_all(&w.text).expect("valid frames");
            for &s in &w.to {
                got.entry(s).or_default().extend(frames.iter().map(ServerFrame::to_json));
            }
        }
        got
    }

    fn frame(n: u64) -> String {
        ServerFrame::Ack { client_id: format!("c{n}"), seq: n, ts: n }.to_json()
    }

    #[test]
    fn a_burst_to_the_same_sockets_is_one_write_per_group() {
        let mut o = Outbox::default();
        for n in 1..=10 {
            o.push(vec![1, 2, 3], frame(n));
        }
        let writes = o.drain(|_| true);
        assert_eq!(writes.len(), 1, "{writes:?}");
        assert_eq!(writes[0].to, vec![1, 2, 3]);
        let got = received(&writes);
        for s in [1, 2, 3] {
            assert_eq!(got[&s], (1..=10).map(frame).collect::<Vec<_>>());
        }
        assert!(o.is_empty());
    }

    #[test]
    fn a_lone_frame_goes_as_is() {
        let mut o = Outbox::default();
        o.push(vec![4, 5], frame(1));
        assert_eq!(o.drain(|_| true), vec![Write { text: frame(1), to: vec![4, 5] }]);
    }

    #[test]
    fn each_socket_gets_its_own_frames_in_order_and_old_clients_get_them_one_by_one() {
        let mut o = Outbox::default();
        o.push(vec![1, 2, 3], frame(1)); // a broadcast
        o.push(vec![1], frame(2)); // a reply to 1
        o.push(vec![2, 3], frame(3)); // to the others
        o.push(vec![3], frame(4));
        o.push(vec![], frame(5)); // to nobody: dropped
                                  // Socket 3 joined without `batch`.
        let writes = o.drain(|s| s != 3);
        let got = received(&writes);
        assert_eq!(got[&1], vec![frame(1), frame(2)]);
        assert_eq!(got[&2], vec![frame(1), frame(3)]);
        assert_eq!(got[&3], vec![frame(1), frame(3), frame(4)]);
        let to_3: Vec<&Write> = writes.iter().filter(|w| w.to.contains(&3)).collect();
        assert_eq!(to_3.len(), 3, "one write per frame for a client without batches");
        assert!(to_3.iter().all(|w| !w.text.contains(r#""type":"batch""#)));
        assert_eq!(writes.iter().filter(|w| w.to.contains(&1)).count(), 1);
    }

    #[test]
    fn long_runs_are_split_into_batches_of_at_most_batch_max() {
        let mut o = Outbox::default();
        let n = BATCH_MAX as u64 * 2 + 1;
        for i in 1..=n {
            o.push(vec![7], frame(i));
        }
        let writes = o.drain(|_| true);
        assert_eq!(writes.len(), 3);
        assert_eq!(received(&writes)[&7], (1..=n).map(frame).collect::<Vec<_>>());
        assert_eq!(writes[2].text, frame(n), "the last one alone, unwrapped");
    }
}
