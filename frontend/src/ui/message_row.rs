//! One stored message: author (with a "bot" badge for a bot's) and time, the quote it replies
//! to, its text (links as links, never markup) or a tombstone ("removed by a moderator" when
//! it was), the "(edited)" marker, a bot's answer still being written (a pulsing cursor and
//! "writing…" until it is finished), its reaction chips, a refusal of one of our operations
//! on it, and the toolbar. It reads only its own signal (see
//! `message_list.rs`), so a change to another message never redraws it.

use crate::reactions::tooltip;
use crate::rows::{linkify, Token};
use crate::state::Shown;
use crate::ui::message_list::{clock, full_time, iso_time};
use crate::ui::room::RoomCtx;
use crate::ui::toolbar::Toolbar;
use confab_shared::{Quote, Reaction, Seq};
use leptos::prelude::*;

/// A stored message. Times are the clock time (stable: nothing in the accessible text
/// changes as minutes pass), with the full date in `title` and `datetime`.
#[component]
pub fn MessageRow(id: Seq, grouped: bool, shown: RwSignal<Option<Shown>>, ctx: RoomCtx) -> impl IntoView {
    let with = move |f: fn(&Shown) -> bool| shown.with(|s| s.as_ref().is_some_and(f));
    let editing = move || ctx.editing.get() == Some(crate::ui::room::Editing::Message(id));
    view! {
        <article
            class="msg"
            id=format!("m{id}")
            tabindex="-1"
            class:grouped=grouped
            class:mine=move || with(|s| s.mine)
            class:mention=move || with(|s| s.mentions_me)
            class:deleted=move || with(|s| s.m.deleted)
            class:streaming=move || with(|s| s.m.streaming && !s.m.deleted)
            aria-busy=move || with(|s| s.m.streaming && !s.m.deleted).then_some("true")
            class:highlight=move || ctx.highlight.get() == Some(id)
            class:editing=editing
            data-testid="message"
            data-id=id
        >
            {move || shown.get().map(|s| body(s, grouped, ctx))}
            <Toolbar id=id shown=shown ctx=ctx />
        </article>
    }
}

/// How many times a message body was drawn (component tests count redraws with it).
#[cfg(test)]
pub static DRAWN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn body(s: Shown, grouped: bool, ctx: RoomCtx) -> impl IntoView {
    #[cfg(test)]
    DRAWN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let id = s.m.id;
    let m = s.m;
    let author = m.author.clone();
    let bot = m.bot.then(|| view! { <span class="badge bot" data-testid="bot-badge">"bot"</span> });
    let header = if grouped {
        view! { <span class="visually-hidden">{author}{m.bot.then_some(" (bot)")}</span> }.into_any()
    } else {
        view! {
            <header>
                <span class="author" dir="auto">
                    {author}
                </span>
                {bot}
                <time datetime=iso_time(m.ts) title=full_time(m.ts)>
                    {clock(m.ts)}
                </time>
            </header>
        }
        .into_any()
    };
    let quote = m.reply_to.filter(|_| !m.deleted).map(|q| view! { <QuoteBlock q=q ctx=ctx /> });
    let text = if m.deleted {
        view! {
            <p class="tombstone" data-testid="tombstone">
                {if s.pending_delete {
                    "deleting…"
                } else if m.removed {
                    "removed by a moderator"
                } else {
                    "message deleted"
                }}
            </p>
        }
        .into_any()
    } else {
        let edited = if s.pending_edit {
            Some(view! { <span class="edited" data-testid="edited">" (saving…)"</span> }.into_any())
        } else {
            m.edited_ts.map(|t| {
                view! {
                    <span class="edited" data-testid="edited" title=format!("edited {}", full_time(t))>
                        " (edited)"
                    </span>
                }
                .into_any()
            })
        };
        view! {
            <p class="text" dir="auto">
                {linkify(&m.text)
                    .into_iter()
                    .map(|t| match t {
                        Token::Text(s) => s.into_any(),
                        Token::Link(url) => {
                            let label = url.clone();
                            view! {
                                <a href=url target="_blank" rel="noopener noreferrer">
                                    {label}
                                </a>
                            }
                                .into_any()
                        }
                    })
                    .collect_view()}
                {edited}
                {m.streaming
                    .then(|| {
                        view! {
                            <span class="cursor" aria-hidden="true"></span>
                            <span class="writing" data-testid="streaming">" writing…"</span>
                        }
                    })}
            </p>
        }
        .into_any()
    };
    let chips = (!m.reactions.is_empty()).then(|| view! { <Chips id=id reactions=m.reactions ctx=ctx /> });
    let conflict = s.conflict.map(|why| {
        view! {
            <p class="conflict" role="alert" data-testid="conflict">
                {format!("Your change was not applied: {why} ")}
                <button
                    class="link"
                    on:click=move |_| {
                        ctx.view.update(|v| v.dismiss_conflict(id));
                    }
                >
                    "Dismiss"
                </button>
            </p>
        }
    });
    view! {
        {header}
        {quote}
        {text}
        {chips}
        {conflict}
    }
}

/// The message a reply quotes: its author and excerpt (or "message deleted"); a click jumps
/// to it.
#[component]
pub fn QuoteBlock(q: Quote, ctx: RoomCtx) -> impl IntoView {
    let target = q.id;
    let label = format!("In reply to {}: go to their message", q.author);
    view! {
        <button
            class="quote"
            class:deleted=q.deleted
            data-testid="quote"
            data-quote-id=target
            aria-label=label
            on:click=move |_| ctx.jump_to(target)
        >
            <span class="quote-author" dir="auto">{q.author}</span>
            <span class="quote-text" dir="auto">
                {if q.deleted { "message deleted".to_owned() } else { q.excerpt }}
            </span>
        </button>
    }
}

/// Reaction chips: the emoji and its count, ours highlighted, the names in a tooltip; a
/// click adds or removes ours.
#[component]
fn Chips(id: Seq, reactions: Vec<Reaction>, ctx: RoomCtx) -> impl IntoView {
    view! {
        <div class="reactions" data-testid="reactions">
            {reactions
                .into_iter()
                .map(|r| {
                    let tip = tooltip(&r);
                    let (emoji, mine) = (r.emoji.clone(), r.mine);
                    let data_emoji = r.emoji.clone();
                    let label = format!("{tip}. {}", if mine { "Remove yours" } else { "Add yours" });
                    view! {
                        <button
                            class="chip"
                            class:mine=mine
                            title=tip
                            aria-label=label
                            aria-pressed=mine.to_string()
                            data-testid="chip"
                            data-emoji=data_emoji
                            on:click=move |_| ctx.react(id, &emoji, !mine)
                        >
                            <span class="emoji" aria-hidden="true">{r.emoji}</span>
                            <span class="count" aria-hidden="true">{r.count}</span>
                        </button>
                    }
                })
                .collect_view()}
        </div>
    }
}
