//! A bot that answers when someone mentions it: it registers its webhook with the room
//! (`PUT /api/rooms/{room}/webhook`), then serves the deliveries. Each one is checked against
//! its signature (`X-Confab-Signature`: HMAC-SHA256 of the body with the webhook's secret) and
//! answered with `text/plain`, which the room posts as the bot's reply. With `--stream` it
//! answers with `204` instead and writes its reply word by word as a streamed message, the way
//! a language model would.
//!
//! ```sh
//! CONFAB_BOT_TOKEN=cb_… cargo run -p confab-mention-bot -- lobby [--stream]
//! ```
//! The room must be allowed to call a loopback address: `make dev` sets
//! `ALLOW_PRIVATE_WEBHOOKS`; a deployed room needs the bot on a public URL (`--public-url`).

use confab_shared::api::{Done, SetWebhook, Webhook, WebhookEvent, SIGNATURE_HEADER};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

struct Config {
    room: String,
    server: String,
    token: String,
    listen: String,
    public_url: String,
    stream: bool,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("mention-bot: {e}");
        std::process::exit(1);
    }
}

fn config() -> Result<Config, String> {
    let mut room = None;
    let mut listen = "127.0.0.1:8788".to_owned();
    let mut public_url = None;
    let mut stream = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--stream" => stream = true,
            "--listen" => listen = args.next().ok_or("--listen needs host:port")?,
            "--public-url" => public_url = Some(args.next().ok_or("--public-url needs a URL")?),
            _ => room = Some(a),
        }
    }
    Ok(Config {
        room: room.ok_or("usage: confab-mention-bot ROOM [--stream] [--listen 127.0.0.1:8788] [--public-url URL]")?,
        server: std::env::var("CONFAB_SERVER").unwrap_or_else(|_| "http://127.0.0.1:8787".into()),
        token: std::env::var("CONFAB_BOT_TOKEN").map_err(|_| "set CONFAB_BOT_TOKEN to the bot's token")?,
        public_url: public_url.unwrap_or_else(|| format!("http://{listen}/hook")),
        listen,
        stream,
    })
}

fn run() -> Result<(), String> {
    let c = config()?;
    let listener = TcpListener::bind(&c.listen).map_err(|e| format!("{}: {e}", c.listen))?;
    let api = format!("{}/api/rooms/{}", c.server.trim_end_matches('/'), c.room);
    let body = serde_json::to_string(&SetWebhook { url: c.public_url.clone() }).map_err(|e| e.to_string())?;
    let hook: Webhook = ureq::put(&format!("{api}/webhook"))
        .set("Authorization", &format!("Bearer {}", c.token))
        .set("Content-Type", "application/json")
        .send_string(&body)
        .map_err(|e| format!("registering the webhook: {e}"))?
        .into_string()
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))?;
    eprintln!("listening on {} for mentions in {} (webhook {})", c.listen, c.room, hook.url);
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let (secret, api, token, stream) = (hook.secret.clone(), api.clone(), c.token.clone(), c.stream);
        std::thread::spawn(move || {
            if let Err(e) = serve(conn, &secret, &api, &token, stream) {
                eprintln!("{e}");
            }
        });
    }
    Ok(())
}

/// One delivery: read it, check its signature, answer.
fn serve(mut conn: TcpStream, secret: &str, api: &str, token: &str, stream: bool) -> Result<(), String> {
    conn.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(conn.try_clone().map_err(|e| e.to_string())?);
    let mut length = 0usize;
    let mut signature = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            } else if k.eq_ignore_ascii_case(SIGNATURE_HEADER) {
                signature = v.trim().to_owned();
            }
        }
    }
    let mut body = vec![0u8; length.min(1 << 20)];
    reader.read_exact(&mut body).map_err(|e| e.to_string())?;
    if !verify(secret, &body, &signature) {
        conn.write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").ok();
        return Err("a delivery with a wrong signature was refused".into());
    }
    let event: WebhookEvent = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    let reply = answer(&event.message.text, &event.author.name, now_ms());
    if stream {
        conn.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n").ok();
        return stream_reply(api, token, event.message.id, &reply);
    }
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.len()
    );
    conn.write_all(head.as_bytes()).and_then(|()| conn.write_all(reply.as_bytes())).map_err(|e| e.to_string())
}

/// Whether `signature` is `sha256=` and the HMAC of `body` (compared in constant time).
fn verify(secret: &str, body: &[u8], signature: &str) -> bool {
    let Some(hex) = signature.strip_prefix("sha256=") else { return false };
    let Some(bytes) = (0..hex.len() / 2)
        .map(|i| hex.get(i * 2..i * 2 + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return false };
    mac.update(body);
    mac.verify_slice(&bytes).is_ok()
}

/// The bot's whole wit.
fn answer(text: &str, author: &str, now_ms: u64) -> String {
    let lower = text.to_lowercase();
    if lower.contains("time") {
        let secs = now_ms / 1000;
        format!("It is {:02}:{:02} UTC, {author}.", secs / 3600 % 24, secs / 60 % 60)
    } else if lower.contains("roll") || lower.contains("dice") {
        format!("{author} rolls a {}.", now_ms % 6 + 1)
    } else {
        format!("Hello {author}! Mention me with “time” or “roll”, and I will answer.")
    }
}

/// Writes `reply` as a streamed message, a word at a time.
fn stream_reply(api: &str, token: &str, reply_to: u64, reply: &str) -> Result<(), String> {
    let auth = format!("Bearer {token}");
    let post = |path: &str, body: serde_json::Value| -> Result<Done, String> {
        ureq::post(&format!("{api}/messages{path}"))
            .set("Authorization", &auth)
            .set("Content-Type", "application/json")
            .send_string(&body.to_string())
            .map_err(|e| e.to_string())?
            .into_string()
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    };
    let mut words = reply.split_inclusive(' ');
    let first = words.next().unwrap_or("…");
    let id = post("", serde_json::json!({"text": first, "reply_to": reply_to, "streaming": true}))?.seq;
    for w in words {
        std::thread::sleep(Duration::from_millis(150));
        post(&format!("/{id}/append"), serde_json::json!({ "text": w }))?;
    }
    post(&format!("/{id}/finish"), serde_json::json!({}))?;
    Ok(())
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked() {
        // RFC 4231, test case 2: the room signs the same way.
        let sig = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert!(verify("Jefe", b"what do ya want for nothing?", sig));
        assert!(!verify("Jefe", b"what do ya want for nothing!", sig));
        assert!(!verify("jefe", b"what do ya want for nothing?", sig));
        assert!(!verify("Jefe", b"x", "md5=00"));
    }

    #[test]
    fn answers() {
        assert_eq!(answer("@bot what time is it", "ann", 45_296_000), "It is 12:34 UTC, ann.");
        assert!(answer("@bot roll", "ann", 7).starts_with("ann rolls a 2"));
        assert!(answer("@bot hi", "ann", 0).starts_with("Hello ann!"));
    }
}
