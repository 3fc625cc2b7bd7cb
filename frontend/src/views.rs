//! The rooms this page showed, kept while another one is open (issue 11): switching back to
//! one starts from what the page held and resumes after its last event (the engine's join
//! carries `since` and the epoch), so the room sends only what changed meanwhile instead of
//! the whole history again. The newest [`KEPT`] rooms are kept, in memory only: a reload
//! starts over, as it should (the outbox and the drafts are in storage, not here).

/// How many rooms' views a page keeps besides the open one.
pub const KEPT: usize = 8;

/// The most recently left rooms' values, newest first, at most `max`.
#[derive(Debug, Clone)]
pub struct Recent<T> {
    max: usize,
    items: Vec<(String, T)>,
}

impl<T> Recent<T> {
    /// Empty, keeping at most `max`.
    pub fn new(max: usize) -> Self {
        Self { max, items: Vec::new() }
    }

    /// Takes `room`'s value out (the open room's view is its page's own while it is open).
    pub fn take(&mut self, room: &str) -> Option<T> {
        let i = self.items.iter().position(|(r, _)| r == room)?;
        Some(self.items.remove(i).1)
    }

    /// Keeps `room`'s value as the newest; the oldest beyond `max` goes.
    pub fn put(&mut self, room: &str, value: T) {
        self.items.retain(|(r, _)| r != room);
        self.items.insert(0, (room.to_owned(), value));
        self.items.truncate(self.max);
    }

    /// The rooms kept, newest first.
    pub fn rooms(&self) -> Vec<&str> {
        self.items.iter().map(|(r, _)| r.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_are_kept_and_a_taken_one_is_gone() {
        let mut r = Recent::new(2);
        r.put("a", 1);
        r.put("b", 2);
        r.put("a", 3);
        assert_eq!(r.rooms(), ["a", "b"], "put again: newest, once");
        r.put("c", 4);
        assert_eq!(r.rooms(), ["c", "a"], "the oldest went");
        assert_eq!(r.take("a"), Some(3));
        assert_eq!(r.take("a"), None);
        assert_eq!(r.take("b"), None);
        assert_eq!(r.rooms(), ["c"]);
    }
}
