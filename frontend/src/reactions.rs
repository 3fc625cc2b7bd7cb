//! Reactions as the page offers and explains them: the picker's emoji (a fixed set and the
//! person's recent ones), and the tooltip a chip carries. Pure, tested natively.

use confab_shared::Reaction;

/// The picker's fixed set, always offered.
pub const PICKER: [&str; 8] = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "👀"];
/// How many recently used emoji the picker remembers.
pub const RECENT_MAX: usize = 8;
/// Where the recent emoji are saved.
pub const RECENT_KEY: &str = "confab.recent_emoji";

/// `recent` after `emoji` was used: first, once, at most [`RECENT_MAX`].
pub fn remember(mut recent: Vec<String>, emoji: &str) -> Vec<String> {
    recent.retain(|e| e != emoji);
    recent.insert(0, emoji.to_owned());
    recent.truncate(RECENT_MAX);
    recent
}

/// The recent emoji the fixed set does not already offer.
pub fn extra_recent(recent: &[String]) -> Vec<String> {
    recent.iter().filter(|e| !PICKER.contains(&e.as_str())).cloned().collect()
}

/// Whether adding `emoji` keeps the message within `limit` distinct emoji (the room refuses
/// more with `too_many_reactions`; the page says so at once instead).
pub fn has_room_for(reactions: &[Reaction], emoji: &str, limit: u32) -> bool {
    reactions.iter().any(|r| r.emoji == emoji) || reactions.len() < limit as usize
}

/// Who reacted, for a chip's tooltip: "alice, bob and 3 others reacted with 👍". The room
/// lists at most ten names; the count is exact.
pub fn tooltip(r: &Reaction) -> String {
    let names = r.names.join(", ");
    let others = (r.count as usize).saturating_sub(r.names.len());
    let who = match (r.names.is_empty(), others) {
        (true, _) => format!("{} {}", r.count, if r.count == 1 { "person" } else { "people" }),
        (false, 0) => names,
        (false, 1) => format!("{names} and 1 other"),
        (false, n) => format!("{names} and {n} others"),
    };
    format!("{who} reacted with {}", r.emoji)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(count: u32, names: &[&str]) -> Reaction {
        Reaction { emoji: "👍".into(), count, names: names.iter().map(|n| (*n).to_owned()).collect(), mine: false }
    }

    #[test]
    fn tooltips_name_the_sample_and_count_the_rest() {
        assert_eq!(tooltip(&r(1, &["bob"])), "bob reacted with 👍");
        assert_eq!(tooltip(&r(2, &["bob", "carol"])), "bob, carol reacted with 👍");
        assert_eq!(tooltip(&r(3, &["bob", "carol"])), "bob, carol and 1 other reacted with 👍");
        assert_eq!(tooltip(&r(12, &["bob", "carol"])), "bob, carol and 10 others reacted with 👍");
        assert_eq!(tooltip(&r(4, &[])), "4 people reacted with 👍");
    }

    #[test]
    fn a_new_emoji_needs_room_an_existing_one_never_does() {
        let full: Vec<Reaction> = (0..3).map(|i| Reaction { emoji: format!("e{i}"), ..r(1, &[]) }).collect();
        assert!(has_room_for(&full, "e1", 3), "joining an emoji already there adds none");
        assert!(!has_room_for(&full, "new", 3));
        assert!(has_room_for(&full, "new", 4));
    }

    #[test]
    fn recent_emoji_are_first_once_and_bounded() {
        let mut recent = Vec::new();
        for e in ["🦀", "👍", "🦀", "a", "b", "c", "d", "e", "f", "g"] {
            recent = remember(recent, e);
        }
        assert_eq!(recent.len(), RECENT_MAX);
        assert_eq!(recent[0], "g");
        assert_eq!(recent.iter().filter(|e| *e == "🦀").count(), 1);
        assert_eq!(extra_recent(&["👍".into(), "🦀".into()]), ["🦀"], "the fixed set is not offered twice");
    }
}
