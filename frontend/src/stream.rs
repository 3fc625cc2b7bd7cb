//! Streamed messages: a bot's answer posted with `streaming: true` grows by `appended` chunks
//! until `finished`. Each chunk and the end are events (they take the next `seq`, see
//! `state.rs`); the message's version follows them, so a copy replayed by a resume (its text
//! and flag as they are now) never goes back to an older text. Tested natively.

use crate::state::RoomView;
use confab_shared::{excerpt, Seq};

impl RoomView {
    /// Event `seq` appended `text` to message `id` (its seq already taken).
    pub(crate) fn append(&mut self, seq: Seq, id: Seq, text: &str) {
        let Some(m) = self.messages.get_mut(&id).filter(|m| m.version < seq && !m.deleted) else { return };
        m.text.push_str(text);
        m.version = seq;
        let quote = excerpt(&m.text);
        self.touched.insert(id);
        self.requote(id, quote, false);
    }

    /// Event `seq` finished message `id` (its seq already taken).
    pub(crate) fn finish(&mut self, seq: Seq, id: Seq) {
        if let Some(m) = self.messages.get_mut(&id).filter(|m| m.version < seq) {
            m.streaming = false;
            m.version = seq;
            self.touched.insert(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::fixtures::{msg, welcome, welcome_at, BOB};
    use crate::state::RoomView;
    use confab_shared::{ChatMessage, ServerFrame};

    fn streaming(id: u64, text: &str) -> ChatMessage {
        ChatMessage { text: text.into(), streaming: true, bot: true, ..msg(id, BOB, "s") }
    }

    #[test]
    fn chunks_grow_the_message_until_it_is_finished() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![streaming(1, "The answer")], false), 0);
        v.touched.clear();
        assert!(v.apply(ServerFrame::Appended { seq: 2, id: 1, text: " is".into() }, 0));
        assert!(v.apply(ServerFrame::Appended { seq: 3, id: 1, text: " 42.\n".into() }, 0));
        assert_eq!(v.messages[&1].text, "The answer is 42.\n");
        assert_eq!(v.messages[&1].version, 3);
        assert!(v.messages[&1].streaming);
        assert!(v.touched.contains(&1), "its row is redrawn");
        // A replayed chunk is not appended twice.
        assert!(!v.apply(ServerFrame::Appended { seq: 3, id: 1, text: " 42.\n".into() }, 0));
        assert_eq!(v.messages[&1].text, "The answer is 42.\n");
        assert!(v.apply(ServerFrame::Finished { seq: 4, id: 1 }, 0));
        assert!(!v.messages[&1].streaming);
        assert_eq!(v.last_seq, Some(4), "chunks and the end are events");
        assert!(!v.resume_needed);
    }

    #[test]
    fn a_resume_gives_the_text_and_flag_as_they_are_now() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![streaming(1, "Part")], false), 0);
        v.apply(ServerFrame::Appended { seq: 2, id: 1, text: " one".into() }, 0);
        // Away: two more chunks and the end; the resume replays the message as it is.
        let now = ChatMessage { text: "Part one, two, three".into(), version: 5, streaming: false, ..streaming(1, "") };
        v.apply(welcome_at(vec![now], false, 5), 0);
        assert_eq!(v.messages[&1].text, "Part one, two, three");
        assert!(!v.messages[&1].streaming);
    }

    #[test]
    fn replies_quoting_a_streamed_message_follow_it() {
        let mut v = RoomView::default();
        let quote =
            confab_shared::Quote { id: 1, member: BOB, author: "bob".into(), excerpt: "Hi".into(), deleted: false };
        let reply = ChatMessage { reply_to: Some(quote), ..msg(2, crate::fixtures::ALICE, "r") };
        v.apply(welcome(vec![streaming(1, "Hi"), reply], false), 0);
        v.apply(ServerFrame::Appended { seq: 3, id: 1, text: " there".into() }, 0);
        assert_eq!(v.messages[&2].reply_to.as_ref().map(|q| q.excerpt.as_str()), Some("Hi there"));
    }
}
