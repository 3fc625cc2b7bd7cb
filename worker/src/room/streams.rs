//! Streamed messages the room is waiting on. A bot that opens a stream and vanishes (a crash,
//! a lost network) must not leave an answer "in progress" for ever: a stream with no chunk for
//! [`STREAM_IDLE_MS`] is finished by the room, as an event of its author's, like any other.

use super::ops::recorded;
use super::{Audience, Effect, Room};
use crate::store::{Change, Op, RoomStore};
use confab_shared::limits::STREAM_IDLE_MS;
use confab_shared::{ClientFrame, MemberId, Seq, ServerFrame};

impl Room {
    /// Keeps track of the stream an operation opened, extended or ended.
    pub(super) fn track_stream(&mut self, frame: &ClientFrame, author: MemberId, seq: Seq, ts: u64) {
        match frame {
            ClientFrame::Send { streaming: true, .. } => {
                self.streams.insert(seq, (author, ts));
            }
            ClientFrame::Append { id, .. } => {
                if let Some(s) = self.streams.get_mut(id) {
                    s.1 = ts;
                }
            }
            ClientFrame::Finish { id, .. } | ClientFrame::Delete { id, .. } => {
                self.streams.remove(id);
            }
            _ => {}
        }
    }

    /// When the next idle stream is due to be finished.
    pub(super) fn next_stream_deadline(&self) -> Option<u64> {
        self.streams.values().map(|(_, at)| at + STREAM_IDLE_MS).min()
    }

    /// Finishes the streams that went quiet.
    pub(super) fn finish_idle_streams(&mut self, store: &mut impl RoomStore, now_ms: u64, out: &mut Vec<Effect>) {
        let idle: Vec<(Seq, MemberId)> = self
            .streams
            .iter()
            .filter(|(_, (_, at))| at + STREAM_IDLE_MS <= now_ms)
            .map(|(id, (author, _))| (*id, *author))
            .collect();
        for (id, author) in idle {
            let Ok((head, head_ts)) = self.latest(store) else { return };
            let (seq, ts) = (head + 1, now_ms.max(head_ts));
            // `~` is not a client_id character: no client can have taken this id first.
            let client_id = format!("idle~{id}");
            let op = Op { seq, member: author, client_id: &client_id, ts, change: Change::Finish { id }, bucket: None };
            match recorded(store.append(&op)) {
                Ok(Ok(seq)) => {
                    self.latest = Some((seq, ts));
                    out.push(Effect::Send { to: Audience::Room, text: ServerFrame::Finished { seq, id }.to_json() });
                    self.streams.remove(&id);
                }
                Ok(Err(_)) => {
                    self.streams.remove(&id);
                }
                Err(_) => {
                    // Try again at the next tick.
                    self.latest = None;
                    return;
                }
            }
        }
    }
}
