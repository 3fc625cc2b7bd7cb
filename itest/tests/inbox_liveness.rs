//! A person's inbox and time (issue 11): with `INBOX_SILENT_MS` shortened to 2 s, a page that
//! never pings is closed when the inbox next counts its pages, so its focus stops hiding a
//! room's notifications from the person's live page, which keeps its socket by pinging; and an
//! inbox that hibernates with a page open loses nothing: the first counts after it wakes are
//! the room's exact ones, never a guess from zero.

use confab_itest::*;
use confab_shared::inbox::{inbox_id, InboxEvent};
use confab_shared::MemberKey;
use serde_json::json;
use std::time::{Duration, Instant};

async fn a_silent_page_is_closed_and_stops_hiding_notifications(s: &Server) -> Outcome {
    let room = unique_room("silent");
    let kl = key("lea");
    let (l, _) = s.join(&room, "lea", &kl).await?;
    l.close().await;
    let (mut m, _) = s.join(&room, "max", &key("max")).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A page focused on the room that then goes silent (a laptop lid shut), and a live one.
    let mut ghost = s.open_inbox(&kl).await?.0;
    ghost.send_json(json!({"type": "focus", "data": {"room": room}})).await?;
    let mut alive = s.open_inbox(&kl).await?.0;
    let quiet_until = Instant::now() + Duration::from_millis(3_000);
    while Instant::now() < quiet_until {
        alive.send_text("ping").await?;
        let pong = alive.next_text(Duration::from_secs(5)).await?;
        ensure(pong.as_deref() == Some("pong"), format!("ping answered {pong:?}"))?;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    m.say("m1", "@lea are you still there?").await?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut notified = false;
    while Instant::now() < deadline && !notified {
        if let Some(t) = alive.next_text(Duration::from_secs(5)).await? {
            notified = matches!(serde_json::from_str(&t), Ok(InboxEvent::Notify { excerpt, .. }) if excerpt.contains("still there"));
        }
    }
    ensure(notified, "the silent page's focus still hid the room's notification")?;
    ensure(ghost.closed_within(Duration::from_secs(5)).await == Some(4000), "the silent page was not closed")
}

/// The inbox hibernates with a page open (which only pings); the next post wakes it, and
/// the page's next counts for the room are exact, not rebuilt from zero.
async fn an_inbox_that_hibernates_loses_no_count(s: &Server) -> Outcome {
    let room = unique_room("sleepy");
    let kn = key("nia");
    let (n, _) = s.join(&room, "nia", &kn).await?;
    n.close().await;
    let (mut o, _) = s.join(&room, "oto", &key("oto")).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut page = s.open_inbox(&kn).await?.0;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..3 {
        o.say(&format!("p{i}"), "before the nap").await?;
    }
    let counted = |t: &str| match serde_json::from_str::<InboxEvent>(t) {
        Ok(InboxEvent::Counts(c)) if c.room == room => Some((c.unread, c.mentions)),
        _ => None,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = None;
    while Instant::now() < deadline && last != Some((3, 0)) {
        if let Some(t) = page.next_text(Duration::from_secs(5)).await? {
            last = counted(&t).or(last);
        }
    }
    ensure(last == Some((3, 0)), format!("before: {last:?}"))?;
    let name = inbox_id(&MemberKey::parse(&kn).map_err(|e| e.message)?);
    let starts = |s: &Server| s.log_all().matches(&format!("inbox {name} starting")).count();
    let before = starts(s);
    // Quiet but for the page's pings, which the runtime answers without waking the inbox.
    let quiet_until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < quiet_until {
        page.send_text("ping").await?;
        ensure(page.next_text(Duration::from_secs(5)).await?.as_deref() == Some("pong"), "no pong")?;
        tokio::time::sleep(Duration::from_millis(1_000)).await;
    }
    o.say("p3", "@nia after the nap").await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut after = None;
    while Instant::now() < deadline && after.is_none() {
        if let Some(t) = page.next_text(Duration::from_secs(5)).await? {
            after = counted(&t);
        }
    }
    // Its start line may reach the log after the counts did.
    let woke = s.log_count_within(&format!("inbox {name} starting"), before + 1, Duration::from_secs(5)).await;
    ensure(woke > before, "the inbox did not hibernate (no second start in the log)")?;
    ensure(after == Some((4, 1)), format!("the first counts after the wake: {after:?}, not (4, 1)"))
}

fn main() {
    harness("inbox_liveness", &[("INBOX_SILENT_MS", "2000")], "log", |server| {
        Box::pin(async move {
            run(
                vec![
                    (
                        "a_silent_page_is_closed_and_stops_hiding_notifications",
                        Box::pin(a_silent_page_is_closed_and_stops_hiding_notifications(server)),
                    ),
                    (
                        "an_inbox_that_hibernates_loses_no_count",
                        Box::pin(an_inbox_that_hibernates_loses_no_count(server)),
                    ),
                ],
                Duration::from_secs(90),
            )
            .await
        })
    })
}
