//! The audit trail as the settings panel shows it: pages of entries merged oldest first (one
//! per `seq`), live `moderated` events added at the bottom while it is open, and each entry in
//! words. Pure, tested natively.

use confab_shared::{Action, AuditEntry, Role, Seq};

/// Entries asked for per page.
pub const AUDIT_PAGE: u32 = 50;

/// The trail loaded so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditTrail {
    /// Entries held, oldest first, one per `seq`.
    pub entries: Vec<AuditEntry>,
    /// Older entries exist than the oldest held.
    pub older: bool,
    /// A page is on its way.
    pub loading: bool,
}

impl AuditTrail {
    /// A trail whose first page is on its way.
    pub fn asked() -> Self {
        Self { loading: true, ..Self::default() }
    }

    /// The oldest entry's `seq`: where the next older page ends.
    pub fn oldest(&self) -> Option<Seq> {
        self.entries.first().map(|e| e.seq)
    }

    /// A page from the room (the answer to `audit`): merged by `seq`. Its `older` speaks for
    /// the trail when the page reaches at least as far back as what was held.
    pub fn merge(&mut self, page: Vec<AuditEntry>, older: bool) {
        let reaches_back = match (page.first(), self.oldest()) {
            (Some(first), Some(oldest)) => first.seq <= oldest,
            _ => true,
        };
        if reaches_back {
            self.older = older;
        }
        for e in page {
            self.push(e);
        }
        self.loading = false;
    }

    /// One entry, in its place (a live event goes to the bottom); a `seq` held is skipped.
    pub fn push(&mut self, e: AuditEntry) {
        if let Err(i) = self.entries.binary_search_by_key(&e.seq, |h| h.seq) {
            self.entries.insert(i, e);
        }
    }
}

/// "10 min", "1 hour", "3 days".
pub fn duration(minutes: u32) -> String {
    let plural = |n: u32, one: &str| if n == 1 { format!("1 {one}") } else { format!("{n} {one}s") };
    if minutes >= 24 * 60 && minutes.is_multiple_of(24 * 60) {
        plural(minutes / (24 * 60), "day")
    } else if minutes >= 60 && minutes.is_multiple_of(60) {
        plural(minutes / 60, "hour")
    } else {
        format!("{minutes} min")
    }
}

/// A wait left, as the page counts down: "12 s", "9 min", "2 h 5 min".
pub fn time_left(ms: u64) -> String {
    let secs = ms.div_ceil(1000);
    if secs < 60 {
        return format!("{secs} s");
    }
    let mins = secs.div_ceil(60);
    if mins < 60 {
        return format!("{mins} min");
    }
    match mins % 60 {
        0 => format!("{} h", mins / 60),
        m => format!("{} h {m} min", mins / 60),
    }
}

/// How a role reads on a badge (a plain member has none).
pub fn badge(role: Role) -> Option<&'static str> {
    match role {
        Role::Member => None,
        Role::Bot => Some("bot"),
        Role::Moderator => Some("mod"),
        Role::Owner => Some("owner"),
    }
}

/// An entry in words: "alice muted bob for 10 min".
pub fn describe(e: &AuditEntry) -> String {
    let by = &e.by.name;
    let target = |id: u64| e.target.as_ref().map_or_else(|| format!("member #{id}"), |t| t.name.clone());
    match &e.action {
        Action::Remove { id } => format!("{by} removed message #{id}"),
        Action::Mute { member, minutes: 0 } => format!("{by} lifted {}'s mute", target(*member)),
        Action::Mute { member, minutes } => format!("{by} muted {} for {}", target(*member), duration(*minutes)),
        Action::Ban { member, ip, purge } => {
            let mut s = format!("{by} banned {}", target(*member));
            if *ip {
                s.push_str(" and their address");
            }
            if *purge {
                s.push_str(", removing their messages");
            }
            s
        }
        Action::Unban { member } => format!("{by} lifted {}'s ban", target(*member)),
        Action::SlowMode { seconds: 0 } => format!("{by} turned slow mode off"),
        Action::SlowMode { seconds } => format!("{by} set slow mode to one message per {seconds} s"),
        Action::Topic { text } if text.is_empty() => format!("{by} cleared the topic"),
        Action::Topic { text } => format!("{by} set the topic to “{text}”"),
        Action::InviteOnly { on: true } => format!("{by} made the room invite-only"),
        Action::InviteOnly { on: false } => format!("{by} opened the room to anyone with its link"),
        Action::CreateInvite { .. } => format!("{by} created an invite link"),
        Action::RevokeInvite { .. } => format!("{by} revoked an invite link"),
        Action::SetRole { member, role: Role::Moderator } => format!("{by} made {} a moderator", target(*member)),
        Action::SetRole { member, .. } => format!("{by} took moderator rights from {}", target(*member)),
        Action::CreateBot { name, .. } => format!("{by} created the bot {name}"),
        Action::RevokeBot { member } => format!("{by} revoked the bot {}", target(*member)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_shared::Member;

    fn entry(seq: Seq, action: Action) -> AuditEntry {
        AuditEntry { seq, ts: seq, by: Member::new(1, "alice"), action, target: Some(Member::new(2, "bob")) }
    }

    fn seqs(t: &AuditTrail) -> Vec<Seq> {
        t.entries.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn pages_merge_oldest_first_and_live_entries_go_to_the_bottom() {
        let topic = |seq| entry(seq, Action::Topic { text: format!("t{seq}") });
        let mut t = AuditTrail::asked();
        t.merge(vec![topic(10), topic(12)], true);
        assert!(t.older && !t.loading);
        t.push(topic(15));
        t.push(topic(15));
        assert_eq!(seqs(&t), [10, 12, 15], "once per seq");
        t.loading = true;
        t.merge(vec![topic(4), topic(7)], false);
        assert_eq!(seqs(&t), [4, 7, 10, 12, 15]);
        assert!(!t.older, "the older page says there is nothing before it");
        // A newer page (asked again) does not speak for what is older.
        t.older = true;
        t.merge(vec![topic(12), topic(15)], false);
        assert!(t.older);
        assert_eq!(t.oldest(), Some(4));
    }

    #[test]
    fn entries_read_as_sentences() {
        let cases = [
            (Action::Mute { member: 2, minutes: 60 }, "alice muted bob for 1 hour"),
            (Action::Mute { member: 2, minutes: 0 }, "alice lifted bob's mute"),
            (
                Action::Ban { member: 2, ip: true, purge: true },
                "alice banned bob and their address, removing their messages",
            ),
            (Action::SlowMode { seconds: 30 }, "alice set slow mode to one message per 30 s"),
            (Action::SlowMode { seconds: 0 }, "alice turned slow mode off"),
            (Action::Topic { text: String::new() }, "alice cleared the topic"),
            (Action::SetRole { member: 2, role: Role::Moderator }, "alice made bob a moderator"),
            (Action::SetRole { member: 2, role: Role::Member }, "alice took moderator rights from bob"),
            (Action::CreateBot { name: "ci".into(), member: Some(9) }, "alice created the bot ci"),
            (Action::CreateInvite { code: Some("secret".into()) }, "alice created an invite link"),
        ];
        for (action, words) in cases {
            assert_eq!(describe(&entry(1, action)), words);
        }
        let mut e = entry(1, Action::Unban { member: 7 });
        e.target = None;
        assert_eq!(describe(&e), "alice lifted member #7's ban");
    }

    #[test]
    fn durations_and_waits_read_as_people_say_them() {
        assert_eq!(duration(10), "10 min");
        assert_eq!(duration(60), "1 hour");
        assert_eq!(duration(24 * 60), "1 day");
        assert_eq!(duration(3 * 24 * 60), "3 days");
        assert_eq!(duration(90), "90 min");
        assert_eq!(time_left(11_001), "12 s");
        assert_eq!(time_left(60_000), "1 min");
        assert_eq!(time_left(9 * 60_000 - 1), "9 min");
        assert_eq!(time_left(125 * 60_000), "2 h 5 min");
        assert_eq!(time_left(24 * 3_600_000), "24 h");
    }

    #[test]
    fn badges_name_roles_but_not_plain_members() {
        assert_eq!(badge(Role::Member), None);
        assert_eq!(badge(Role::Moderator), Some("mod"));
        assert_eq!(badge(Role::Owner), Some("owner"));
        assert_eq!(badge(Role::Bot), Some("bot"));
    }
}
