//! Outgoing webhooks, as the room sees them: a bot registers a URL; a person's message that
//! mentions it queues a delivery (stored right after the post, so an eviction loses none; a
//! failed write loses that delivery, never the post); the
//! glue sends what is due from the alarm, never on the message path, and reports each answer
//! here: a `text/plain` answer is posted as the bot, replying; a failure is retried with
//! backoff ([`crate::webhook::RETRIES_MS`]), then dropped.

use super::ops::failed;
use super::{Actor, Effect, Room};
use crate::store::{Delivery, MemberInfo, RoomStore};
use crate::webhook::{check_url, retry_in, Answer};
use confab_shared::api::{Webhook, WebhookEvent};
use confab_shared::{ChatMessage, ClientFrame, ClientId, MessageText, ProtocolError, Role};

/// Deliveries handed to the glue per alarm (the rest are due at once after them).
const DELIVERIES_PER_WAKE: u32 = 20;

impl Room {
    /// `PUT /api/rooms/{room}/webhook` (`Some(url)`) or `DELETE` (`None`) by a bot. Each
    /// `PUT` makes a new signing secret, returned once.
    pub fn set_webhook(
        &mut self,
        store: &mut impl RoomStore,
        bot: &MemberInfo,
        url: Option<&str>,
        allow_private: bool,
    ) -> Result<Option<Webhook>, ProtocolError> {
        let Some(url) = url else {
            store.set_webhook(bot.id, None).map_err(failed)?;
            return Ok(None);
        };
        let url = check_url(url, allow_private)?;
        let secret = super::moderation::random("whsec_")?;
        store.set_webhook(bot.id, Some((&url, &secret))).map_err(failed)?;
        Ok(Some(Webhook { url, secret }))
    }

    /// After a post: one delivery for each bot it mentions that has a webhook (not the
    /// author itself). A failure to queue loses that delivery, never the post.
    pub(super) fn notify_mentioned(
        &mut self,
        store: &mut impl RoomStore,
        author: &Actor,
        message: &ChatMessage,
        now_ms: u64,
        out: &mut Vec<Effect>,
    ) {
        // A bot's post wakes no webhook: two bots answering each other's mentions would talk
        // for ever (within their budgets).
        if author.role == Role::Bot {
            return;
        }
        let mentioned: Vec<_> = message.mentions.iter().copied().filter(|id| *id != author.id).collect();
        if mentioned.is_empty() {
            return;
        }
        let Ok(hooks) = store.webhooks(&mentioned) else { return };
        for hook in hooks {
            let event = WebhookEvent {
                event: "mention".into(),
                room: self.name.clone(),
                bot: confab_shared::Member { id: hook.bot.id, name: hook.bot.name.clone(), role: Role::Bot },
                author: author.view(),
                message: message.clone(),
            };
            let Ok(body) = serde_json::to_string(&event) else { continue };
            if store.enqueue(hook.bot.id, message.id, &body, now_ms).is_ok() {
                self.next_delivery = Some(self.next_delivery.map_or(now_ms, |d| d.min(now_ms)));
                out.push(Effect::WakeAt(now_ms));
            }
        }
    }

    /// The deliveries due now, for the glue to send. Every alarm asks (presence sweeps wake
    /// the room every few seconds), so the queue is read only when its earliest row is due:
    /// `next_delivery` is loaded at restore and moved on every enqueue and retry.
    pub fn due_deliveries(&mut self, store: &mut impl RoomStore, now_ms: u64) -> Vec<Delivery> {
        if self.next_delivery.is_none_or(|at| at > now_ms) {
            return Vec::new();
        }
        let due = store.due(now_ms, DELIVERIES_PER_WAKE).unwrap_or_default();
        // Leased until their answer is surely in: a wake while they are out (or after a
        // crash) does not hand the same rows out again before then.
        let lease = now_ms + crate::webhook::TIMEOUT_MS + 1_000;
        for d in &due {
            let _ = store.reschedule(d.id, d.attempts, lease);
        }
        self.next_delivery = store.next_due().ok().flatten();
        due
    }

    /// After a batch's answers: the queue's next due time, now that its leases are settled.
    pub fn deliveries_settled(&mut self, store: &mut impl RoomStore) {
        self.next_delivery = store.next_due().ok().flatten();
    }

    /// What a delivery's answer means: done (posting a text answer as the bot, replying to
    /// the message, once however often the answer comes), or tried again later, or dropped.
    pub fn delivered(
        &mut self,
        store: &mut impl RoomStore,
        delivery: &Delivery,
        answer: Answer,
        now_ms: u64,
    ) -> Vec<Effect> {
        let mut out = Vec::new();
        match answer {
            Answer::Delivered(reply) => {
                if let Some(text) = reply.and_then(|t| MessageText::parse(&t).ok()) {
                    // One reply per mention per bot, however often the answer comes (a queue
                    // row's id can be reused once the row is gone: it is not the key).
                    let id = format!("webhook-{}-{}", delivery.message, delivery.hook.bot.id);
                    let Ok(client_id) = ClientId::parse(&id) else { return out };
                    let frame =
                        ClientFrame::Send { client_id, text, reply_to: Some(delivery.message), streaming: false };
                    let (_, effects) = self.bot_op(store, &delivery.hook.bot, frame, now_ms);
                    out.extend(effects);
                }
                let _ = store.finish_delivery(delivery.id);
            }
            Answer::Retry => {
                let attempts = delivery.attempts + 1;
                match retry_in(attempts) {
                    Some(wait) => {
                        let due = now_ms + wait;
                        if store.reschedule(delivery.id, attempts, due).is_ok() {
                            self.next_delivery = Some(self.next_delivery.map_or(due, |d| d.min(due)));
                            out.push(Effect::WakeAt(due));
                        }
                    }
                    None => {
                        let _ = store.finish_delivery(delivery.id);
                    }
                }
            }
            Answer::Refused => {
                let _ = store.finish_delivery(delivery.id);
            }
        }
        out
    }
}
