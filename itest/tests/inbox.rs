//! A person's inbox against `wrangler dev` (issue 11): the rooms a person joined appear in
//! their inbox; unread counts move while they are in another room, also in a room joined
//! while a page was open; a mention notifies within a second; two pages of one person share
//! one read position; each page's focus is its own; another key cannot open the inbox.

use confab_itest::*;
use confab_shared::inbox::{InboxEvent, RoomCounts};
use confab_shared::{ErrorCode, ServerFrame};
use serde_json::json;
use std::time::{Duration, Instant};

async fn next_event(c: &mut Client, wait: Duration) -> Result<InboxEvent, String> {
    let text = c.next_text(wait).await?.ok_or("nothing from the inbox")?;
    serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))
}

/// Waits for `room`'s counts to satisfy `want`.
async fn counts_until(c: &mut Client, room: &str, want: impl Fn(&RoomCounts) -> bool) -> Result<RoomCounts, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let InboxEvent::Counts(r) = next_event(c, Duration::from_secs(10)).await? {
            if r.room == room && want(&r) {
                return Ok(r);
            }
        }
    }
    Err(format!("{room}'s counts never came"))
}

async fn counts_follow_the_person_across_rooms(s: &Server) -> Outcome {
    let (r1, r2) = (unique_room("here"), unique_room("there"));
    let ka = key("alice");
    let (mut a1, _) = s.join(&r1, "alice", &ka).await?;
    let (a2, _) = s.join(&r2, "alice", &ka).await?;
    let (mut b, _) = s.join(&r2, "bob", &key("bob")).await?;
    a2.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut inbox, rooms) = s.open_inbox(&ka).await?;
    let names: Vec<_> = rooms.iter().map(|r| r.room.as_str()).collect();
    ensure(names.contains(&r1.as_str()) && names.contains(&r2.as_str()), format!("the inbox lists {names:?}"))?;
    // The first page's recount makes the rooms watch; counts move while alice is in r1.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = Instant::now();
    b.say("p1", "hello over there").await?;
    let c = counts_until(&mut inbox, &r2, |r| r.unread == 1).await?;
    let took = t.elapsed();
    println!("    counts in another room after {} ms", took.as_millis());
    ensure(took < Duration::from_secs(2), format!("counts took {took:?}"))?;
    ensure(c.mentions == 0, format!("{c:?}"))?;
    // A mention: notified within a second.
    let t = Instant::now();
    b.say("p2", "@alice are you there?").await?;
    let (notified, mention_id) = loop {
        match next_event(&mut inbox, Duration::from_secs(5)).await? {
            InboxEvent::Notify { room, excerpt, id, .. } if room == r2 => break (excerpt, id),
            _ => {}
        }
    };
    let took = t.elapsed();
    println!("    mention notified after {} ms", took.as_millis());
    ensure(took < Duration::from_secs(1) && notified.contains("are you there"), format!("{took:?} {notified}"))?;
    // Marked unread from the mention: the room recounts it, a mention again.
    inbox.send_json(json!({"type": "mark_unread", "data": {"room": r2, "id": mention_id}})).await?;
    counts_until(&mut inbox, &r2, |r| r.unread == 1 && r.mentions == 1).await?;
    // A second page of alice's: reading on one moves the other's counts.
    let (mut second, _) = s.open_inbox(&ka).await?;
    inbox.send_json(json!({"type": "read", "data": {"room": r2, "seq": mention_id}})).await?;
    counts_until(&mut second, &r2, |r| r.unread == 0 && r.mentions == 0).await?;
    let _ = a1.say("p3", "still here").await;
    // The page's keepalive is answered without waking the inbox.
    second.send_text("ping").await?;
    let pong = second.next_text(Duration::from_secs(5)).await?;
    ensure(pong.as_deref() == Some("pong"), format!("ping answered {pong:?}"))
}

async fn a_dm_reaches_the_other_person_live_and_admits_only_the_two(s: &Server) -> Outcome {
    let room = unique_room("meet");
    let (ka, kb) = (key("dana"), key("eve"));
    let (_a, _) = s.join(&room, "dana", &ka).await?;
    let (_b, w) = s.join(&room, "eve", &kb).await?;
    let ServerFrame::Welcome { you: eve, .. } = w else { return Err("no welcome".into()) };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut dana_inbox, _) = s.open_inbox(&ka).await?;
    let (mut eve_inbox, _) = s.open_inbox(&kb).await?;
    // Eve on a second device too: a DM reaches every page of hers.
    let (mut eve_phone, _) = s.open_inbox(&kb).await?;
    dana_inbox.send_json(json!({"type": "dm", "data": {"room": room, "member": eve.id}})).await?;
    // Listed on dana's side, then the asking page is told which room to open.
    let mut dm = None;
    let opened = loop {
        let event =
            next_event(&mut dana_inbox, Duration::from_secs(10)).await.map_err(|e| format!("{e}: {}", s.log_tail()))?;
        match event {
            InboxEvent::Counts(r) if r.dm => dm = Some(r),
            InboxEvent::DmOpened { room } => break room,
            _ => {}
        }
    };
    let dm = dm.ok_or("dm_opened before the DM was listed")?;
    ensure(dm.peer.as_deref() == Some("eve") && opened == dm.room, format!("dana's side: {dm:?}, opened {opened}"))?;
    // Eve's sidebar gets it live, with a notification.
    let mut told = false;
    let mut listed = false;
    while !(told && listed) {
        match next_event(&mut eve_inbox, Duration::from_secs(10))
            .await
            .map_err(|e| format!("eve: {e} (told {told}, listed {listed}): {}", s.log_tail()))?
        {
            InboxEvent::Notify { room, .. } if room == dm.room => told = true,
            InboxEvent::Counts(r) if r.room == dm.room && r.peer.as_deref() == Some("dana") => listed = true,
            _ => {}
        }
    }
    // Only the two may join; the messages are not public.
    let (mut in_dm, _) = s.join(&dm.room, "dana", &ka).await?;
    let mut mallory = s.connect(&dm.room).await?;
    mallory.send_json(json!({"type": "join", "data": {"v": 2, "name": "mallory", "key": key("mallory")}})).await?;
    let f = mallory.expect("refused", |f| matches!(f, ServerFrame::Error { .. })).await?;
    ensure(matches!(f, ServerFrame::Error { code: ErrorCode::Forbidden, .. }), format!("{f:?}"))?;
    let (status, _, _) = http_send(s.port, "GET", &format!("/api/rooms/{}/messages", dm.room), &[], "").await?;
    ensure(status == 403, format!("a DM read over HTTP: {status}"))?;
    // A message in it counts and notifies on eve's side, on every page of hers.
    in_dm.say("d1", "psst").await?;
    for page in [&mut eve_inbox, &mut eve_phone] {
        loop {
            if let InboxEvent::Notify { room, excerpt, .. } =
                next_event(page, Duration::from_secs(5)).await.map_err(|e| format!("psst: {e}: {}", s.log_tail()))?
            {
                if room == dm.room && excerpt == "psst" {
                    break;
                }
            }
        }
    }
    Ok(())
}

async fn a_mention_waits_in_an_inbox_with_no_page_open(s: &Server) -> Outcome {
    let room = unique_room("away");
    let kf = key("fay");
    let (f, _) = s.join(&room, "fay", &kf).await?;
    f.close().await;
    let (mut g, _) = s.join(&room, "gus", &key("gus")).await?;
    g.say("m1", "@fay when you are back").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut c = s.connect_inbox(&kf).await?;
    c.send_json(json!({"type": "hello", "data": {"key": kf}})).await?;
    let mut got = false;
    for _ in 0..5 {
        if let InboxEvent::Notify { excerpt, .. } = next_event(&mut c, Duration::from_secs(5)).await? {
            got = excerpt.contains("when you are back");
            break;
        }
    }
    ensure(got, "the mention waited for the next page")
}

/// A page that never says `hello` is closed after 10 s; a mention held back by a noisy room is
/// sent when the room's 10 s window ends, though nothing more is said.
async fn the_inboxs_alarm_closes_silent_sockets_and_sends_what_was_held(s: &Server) -> Outcome {
    let room = unique_room("noisy");
    let kh = key("hana");
    let (_h, _) = s.join(&room, "hana", &kh).await?;
    let (mut i, _) = s.join(&room, "ivan", &key("ivan")).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut inbox, _) = s.open_inbox(&kh).await?;
    let mut silent = s.connect_inbox(&kh).await?;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    i.say("m1", "@hana one").await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    i.say("m2", "@hana two").await?;
    i.say("m3", "@hana three").await?;
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(14);
    while Instant::now() < deadline && got.len() < 2 {
        if let Ok(InboxEvent::Notify { excerpt, count, .. }) = next_event(&mut inbox, Duration::from_secs(14)).await {
            got.push((excerpt, count));
        }
    }
    ensure(got.len() == 2, format!("two notifications: {got:?}"))?;
    ensure(got[0].0 == "@hana one" && got[1].0 == "@hana three" && got[1].1 == 2, format!("{got:?}"))?;
    ensure(silent.closed_within(Duration::from_secs(5)).await == Some(4000), "the silent socket was closed")
}

/// A room joined while a page of the person is open counts at once, not at the next `hello`.
async fn a_room_joined_with_a_page_open_counts_at_once(s: &Server) -> Outcome {
    let (first, later) = (unique_room("first"), unique_room("later"));
    let kj = key("jo");
    let (_j, _) = s.join(&first, "jo", &kj).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut inbox, _) = s.open_inbox(&kj).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (j2, _) = s.join(&later, "jo", &kj).await?;
    j2.close().await;
    counts_until(&mut inbox, &later, |_| true).await?;
    let (mut k, _) = s.join(&later, "kai", &key("kai")).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    k.say("k1", "news in the later room").await?;
    let c = counts_until(&mut inbox, &later, |r| r.unread == 1).await?;
    ensure(c.mentions == 0, format!("{c:?}"))
}

/// Each page says its own focus: one tab losing focus does not clear another's (nothing from
/// the room it shows notifies), and a focused tab closing without a word lets its room notify.
async fn focus_is_each_pages_own(s: &Server) -> Outcome {
    let room = unique_room("focus");
    let kl = key("lea");
    let (l, _) = s.join(&room, "lea", &kl).await?;
    l.close().await;
    let (mut m, _) = s.join(&room, "max", &key("max")).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut looking, _) = s.open_inbox(&kl).await?;
    let (mut other, _) = s.open_inbox(&kl).await?;
    looking.send_json(json!({"type": "focus", "data": {"room": room}})).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The other tab loses focus after: the room is still shown in a focused tab.
    other.send_json(json!({"type": "focus", "data": {"room": null}})).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    m.say("m1", "@lea seen at once").await?;
    let deadline = Instant::now() + Duration::from_millis(1_500);
    while Instant::now() < deadline {
        if let Ok(InboxEvent::Notify { excerpt, .. }) = next_event(&mut other, Duration::from_millis(300)).await {
            return Err(format!("notified of what a focused tab shows: {excerpt}"));
        }
    }
    // The focused tab goes away without saying so: the room notifies again (after the
    // room's 10 s window from its last notification, none here).
    looking.close().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    m.say("m2", "@lea now you are away").await?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(InboxEvent::Notify { excerpt, .. }) = next_event(&mut other, Duration::from_secs(5)).await {
            return ensure(excerpt.contains("now you are away"), format!("notified of {excerpt}"));
        }
    }
    Err("the room did not notify once its focused tab closed".into())
}

async fn another_key_cannot_open_the_inbox(s: &Server) -> Outcome {
    let mut c = s.connect_inbox(&key("carol")).await?;
    c.send_json(json!({"type": "hello", "data": {"key": key("mallory")}})).await?;
    ensure(c.closed_within(Duration::from_secs(5)).await == Some(4003), "a forged hello is closed with 4003")
}

fn main() {
    harness("inbox", &[("RATE_BURST", "100"), ("RATE_PER_SEC", "100")], "log", |server| {
        Box::pin(async move {
            run(
                vec![
                    ("counts_follow_the_person_across_rooms", Box::pin(counts_follow_the_person_across_rooms(server))),
                    ("another_key_cannot_open_the_inbox", Box::pin(another_key_cannot_open_the_inbox(server))),
                    (
                        "a_room_joined_with_a_page_open_counts_at_once",
                        Box::pin(a_room_joined_with_a_page_open_counts_at_once(server)),
                    ),
                    ("focus_is_each_pages_own", Box::pin(focus_is_each_pages_own(server))),
                    (
                        "the_inboxs_alarm_closes_silent_sockets_and_sends_what_was_held",
                        Box::pin(the_inboxs_alarm_closes_silent_sockets_and_sends_what_was_held(server)),
                    ),
                    (
                        "a_dm_reaches_the_other_person_live_and_admits_only_the_two",
                        Box::pin(a_dm_reaches_the_other_person_live_and_admits_only_the_two(server)),
                    ),
                    (
                        "a_mention_waits_in_an_inbox_with_no_page_open",
                        Box::pin(a_mention_waits_in_an_inbox_with_no_page_open(server)),
                    ),
                ],
                Duration::from_secs(60),
            )
            .await
        })
    })
}
