//! A person's inbox drops pages that went silent without closing (issue 11): with
//! `INBOX_SILENT_MS` shortened to 2 s, a page that never pings is closed when the inbox next
//! counts its pages, so its focus stops hiding a room's notifications from the person's live
//! page, which keeps its socket by pinging.

use confab_itest::*;
use confab_shared::inbox::{inbox_id, InboxEvent};
use confab_shared::MemberKey;
use serde_json::json;
use std::time::{Duration, Instant};

async fn open_inbox(s: &Server, k: &str) -> Result<Client, String> {
    let inbox = inbox_id(&MemberKey::parse(k).map_err(|e| e.message)?);
    let mut c = Client::connect(&format!("ws://127.0.0.1:{}/api/me/{inbox}/ws", s.port), None).await?;
    c.send_json(json!({"type": "hello", "data": {"key": k}})).await?;
    let first = c.next_text(Duration::from_secs(10)).await?.ok_or("no answer to hello")?;
    match serde_json::from_str::<InboxEvent>(&first) {
        Ok(InboxEvent::Rooms { .. }) => Ok(c),
        other => Err(format!("not the rooms: {other:?}")),
    }
}

async fn a_silent_page_is_closed_and_stops_hiding_notifications(s: &Server) -> Outcome {
    let room = unique_room("silent");
    let kl = key("lea");
    let (l, _) = s.join(&room, "lea", &kl).await?;
    l.close().await;
    let (mut m, _) = s.join(&room, "max", &key("max")).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A page focused on the room that then goes silent (a laptop lid shut), and a live one.
    let mut ghost = open_inbox(s, &kl).await?;
    ghost.send_json(json!({"type": "focus", "data": {"room": room}})).await?;
    let mut alive = open_inbox(s, &kl).await?;
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

fn main() {
    harness("inbox_liveness", &[("INBOX_SILENT_MS", "2000")], "log", |server| {
        Box::pin(async move {
            run(
                vec![(
                    "a_silent_page_is_closed_and_stops_hiding_notifications",
                    Box::pin(a_silent_page_is_closed_and_stops_hiding_notifications(server)),
                )],
                Duration::from_secs(60),
            )
            .await
        })
    })
}
