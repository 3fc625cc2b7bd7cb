//! A data source: every line on stdin becomes a message in a room, posted over HTTP as a bot
//! (`POST /api/rooms/{room}/messages`, `Authorization: Bearer <token>`). Each line has its own
//! `Idempotency-Key`, so a POST retried after a timeout or a 5xx is stored once.
//!
//! ```sh
//! while sleep 1; do echo "22.$((RANDOM % 10)) °C"; done |
//!   CONFAB_BOT_TOKEN=cb_… cargo run -p confab-feeder -- lobby
//! ```

use confab_shared::api::{Done, PostMessage, IDEMPOTENCY_KEY};
use std::io::BufRead;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn main() {
    if let Err(e) = run() {
        eprintln!("feeder: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let room = args.next().ok_or("usage: confab-feeder ROOM  (CONFAB_BOT_TOKEN, CONFAB_SERVER)")?;
    let token = std::env::var("CONFAB_BOT_TOKEN").map_err(|_| "set CONFAB_BOT_TOKEN to the bot's token")?;
    let server = std::env::var("CONFAB_SERVER").unwrap_or_else(|_| "http://127.0.0.1:8787".into());
    let url = format!("{}/api/rooms/{room}/messages", server.trim_end_matches('/'));
    let run_id = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).build();
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.map_err(|e| e.to_string())?;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let key = format!("feed-{run_id}-{n}");
        let body = serde_json::to_string(&PostMessage { text: text.to_owned(), reply_to: None, streaming: false })
            .map_err(|e| e.to_string())?;
        post(&agent, &url, &token, &key, &body)?;
    }
    Ok(())
}

/// Posts one reading, retrying what may succeed later (the network, 5xx, 429 after its
/// `Retry-After`) with the same key; gives up on a refusal that will not change.
fn post(agent: &ureq::Agent, url: &str, token: &str, key: &str, body: &str) -> Result<(), String> {
    let mut wait = Duration::from_millis(500);
    for _ in 0..8 {
        let result = agent
            .post(url)
            .set("Authorization", &format!("Bearer {token}"))
            .set(IDEMPOTENCY_KEY, key)
            .set("Content-Type", "application/json")
            .send_string(body);
        match result {
            Ok(resp) => {
                let done: Done =
                    serde_json::from_str(&resp.into_string().map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
                let again = if done.duplicate { " (already stored)" } else { "" };
                eprintln!("posted #{}{again}", done.seq);
                return Ok(());
            }
            Err(ureq::Error::Status(code, resp)) if code == 429 || code >= 500 => {
                let after = resp.header("Retry-After").and_then(|s| s.parse::<u64>().ok());
                wait = after.map_or(wait * 2, Duration::from_secs).min(Duration::from_secs(30));
                eprintln!("the room said {code}; trying again in {wait:?}");
            }
            Err(ureq::Error::Status(code, resp)) => {
                return Err(format!("the room refused it ({code}): {}", resp.into_string().unwrap_or_default()));
            }
            Err(e) => {
                eprintln!("{e}; trying again in {wait:?}");
                wait = (wait * 2).min(Duration::from_secs(30));
            }
        }
        std::thread::sleep(wait);
    }
    Err("the room did not take it after 8 tries".into())
}
