//! The settings panel's bots: make one with a name (its token is shown once, with a copy
//! button and a ready `curl` line that posts as it), and revoke the ones the page knows of
//! (from the room's events and the audit trail: the protocol lists none).

use crate::browser;
use crate::share::curl_example;
use crate::ui::room::RoomCtx;
use confab_shared::{Action, UserName};
use leptos::prelude::*;

/// The bots section.
#[component]
pub fn Bots(ctx: RoomCtx) -> impl IntoView {
    let view = ctx.view;
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let bots = Memo::new(move |_| {
        view.with(|v| v.moderation.live_bots().into_iter().map(|(id, n)| (id, n.to_owned())).collect::<Vec<_>>())
    });
    let new_bot = Memo::new(move |_| view.with(|v| v.moderation.new_bot.clone()));
    let create = move || match UserName::parse(name.get_untracked().trim()) {
        Ok(n) => {
            ctx.moderate(Action::CreateBot { name: n.as_str().to_owned(), member: None });
            name.set(String::new());
        }
        Err(e) => error.set(Some(e.message)),
    };
    view! {
        <section class="field" aria-labelledby="bots-title">
            <h3 id="bots-title">"Bots"</h3>
            {move || new_bot.get().map(|(bot, token)| view! { <NewToken bot=bot.name token=token ctx=ctx /> })}
            <form
                class="row"
                on:submit=move |ev| {
                    ev.prevent_default();
                    create();
                }
            >
                <label for="bot-name" class="visually-hidden">"New bot's name"</label>
                <input
                    id="bot-name"
                    data-testid="bot-name"
                    placeholder="New bot's name"
                    maxlength="64"
                    prop:value=move || name.get()
                    on:input=move |ev| {
                        error.set(None);
                        name.set(event_target_value(&ev));
                    }
                />
                <button type="submit" data-testid="create-bot">"Create bot"</button>
            </form>
            <p class="error" role="alert">{move || error.get()}</p>
            <ul class="bots" data-testid="bots">
                <For
                    each=move || bots.get()
                    key=|b| b.clone()
                    children=move |(id, bot_name)| {
                        view! {
                            <li data-testid="bot">
                                <span dir="auto">{bot_name.clone()}</span>
                                <span class="badge bot">"bot"</span>
                                <button
                                    class="secondary"
                                    aria-label=format!("Revoke the bot {bot_name}")
                                    on:click=move |_| ctx.moderate(Action::RevokeBot { member: id })
                                >
                                    "Revoke"
                                </button>
                            </li>
                        }
                    }
                />
            </ul>
        </section>
    }
}

/// A new bot's token, shown this once, and how to post with it.
#[component]
fn NewToken(bot: String, token: String, ctx: RoomCtx) -> impl IntoView {
    let curl = curl_example(&browser::origin(), &ctx.room(), &token);
    let (copy_token, copy_curl) = (token.clone(), curl.clone());
    view! {
        <div class="new-bot" role="status" data-testid="new-bot">
            <p>
                <b dir="auto">{bot}</b>
                " is ready. Copy its token now: it is not shown again."
            </p>
            <div class="row">
                <input readonly aria-label="Bot token" data-testid="bot-token" value=token />
                <button
                    class="secondary"
                    on:click=move |_| {
                        browser::copy(&copy_token);
                        ctx.say("Token copied");
                    }
                >
                    "Copy token"
                </button>
            </div>
            <pre data-testid="bot-curl">{curl}</pre>
            <div class="row">
                <button
                    class="secondary"
                    on:click=move |_| {
                        browser::copy(&copy_curl);
                        ctx.say("Example copied");
                    }
                >
                    "Copy example"
                </button>
                <button
                    data-testid="bot-done"
                    on:click=move |_| {
                        ctx.view.update(|v| {
                            v.moderation.new_bot = None;
                            v.touch();
                        });
                        // This button goes with the token: focus stays in the panel (its
                        // heading), or Escape, heard by the panel, would stop closing it.
                        browser::focus_by_id("settings-title");
                    }
                >
                    "Done, I have copied it"
                </button>
            </div>
        </div>
    }
}
