// Rooms with owners, end to end in headless Chromium against a real `wrangler dev`: the owner
// (first to join) and a member in two browser contexts. The owner removes the member's message
// from its moderation menu, mutes them from another message's menu and lifts it from the
// member list, sets the topic and slow mode in the room settings panel, and makes a bot there;
// the test then streams the bot's answer over the HTTP API, chunk by chunk, and watches it grow
// in the member's page. Screenshots go to target/e2e/ (`owners-{width}-{scheme}-{what}.png`);
// the copies in docs/screenshots/ are refreshed from there by hand.
// Run: `node e2e/owners.mjs` (scripts/test.sh does, after building).
import { join } from 'node:path';
import { startServer, launchBrowser, step, assert, outDir, failures, watchedContexts } from './lib.mjs';

/** One person at one browser: the page object the steps talk to. */
class Person {
  constructor(page, name) { this.page = page; this.name = name; }
  async join(url, room) {
    const p = this.page;
    await p.goto(url);
    await p.getByLabel('Your name').fill(this.name);
    await p.getByLabel('Room', { exact: true }).fill(room);
    await p.getByRole('button', { name: 'Join room' }).click();
    await p.getByTestId('link-state').filter({ hasText: 'Online' }).waitFor({ timeout: 15_000 });
  }
  composer() { return this.page.getByLabel('Message', { exact: true }); }
  async say(text) {
    const box = this.composer();
    await box.click();
    await box.pressSequentially(text, { delay: 5 });
    await box.press('Enter');
  }
  /** The newest message row containing `text`. */
  row(text) { return this.page.getByTestId('message').filter({ hasText: text }).last(); }
  async sees(text) { await this.row(text).waitFor({ timeout: 10_000 }); }
  /** Hovers the message with `text`, as a mouse would, and opens its moderation menu. */
  async openModMenu(text) {
    const row = this.row(text);
    await row.hover();
    await row.getByTestId('mod-button').click();
    await this.page.getByTestId('mod-menu').waitFor({ timeout: 5_000 });
  }
  /** Opens the member list (a toggle below 700 px; always shown wider). */
  async memberList() {
    const list = this.page.getByTestId('members');
    if (!(await list.isVisible())) await this.page.getByRole('button', { name: 'Members' }).click();
    await list.waitFor({ state: 'visible' });
    return list;
  }
  async openSettings() {
    await this.page.getByRole('button', { name: 'Room settings' }).click();
    await this.page.getByTestId('settings').waitFor({ timeout: 5_000 });
  }
  async shot(width, scheme, what) {
    await this.page.emulateMedia({ colorScheme: scheme });
    await twoFrames(this.page);
    await this.page.screenshot({ path: join(outDir, `owners-${width}-${scheme}-${what}.png`) });
  }
}

/** Two animation frames: whatever the page does after a render has been done. */
function twoFrames(page) {
  return page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

/** A message row's own text, without the streaming marker (cursor and "writing…"). */
function ownText(row) {
  return row.locator('.text').evaluate((p) => {
    const copy = p.cloneNode(true);
    for (const el of copy.querySelectorAll('.cursor, .writing, .edited')) el.remove();
    return copy.textContent;
  });
}

/** What a sighted person reads in `loc`: its text without the parts only screen readers get. */
function seenText(loc) {
  return loc.evaluate((el) => {
    const copy = el.cloneNode(true);
    for (const hidden of copy.querySelectorAll('.visually-hidden')) hidden.remove();
    return copy.textContent.trim();
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const server = await startServer();
const browser = await launchBrowser();
let exitCode = 0;
try {
  const room = `owners-${Date.now()}`;
  // Every page is watched for browser dialogs, CSP violations and uncaught errors (a panic).
  const { newContext, trouble } = watchedContexts(browser);
  const ctxA = await newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
  const ctxB = await newContext({ viewport: { width: 375, height: 700 }, colorScheme: 'dark' });
  const alice = new Person(await ctxA.newPage(), 'alice'); // the owner
  const bob = new Person(await ctxB.newPage(), 'bob'); // a member, on a phone

  let token = null; // the bot's, as the settings panel shows it once
  /** A write as the bot over the HTTP API (`path` after `/messages`); resolves to its JSON answer. */
  const botApi = async (path, body) => {
    const r = await fetch(`${server.url}/api/rooms/${room}/messages${path}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await r.text();
    assert(r.ok, `POST messages${path}: ${r.status} ${text}`);
    return JSON.parse(text);
  };

  await step('the first to join owns the room; the second is a plain member', async () => {
    await alice.join(server.url, room);
    await bob.join(server.url, room);
    const members = alice.page.getByTestId('members');
    await members.getByTestId('member').filter({ hasText: 'bob' }).waitFor({ timeout: 10_000 });
    const badge = members.getByTestId('member').filter({ hasText: 'alice' }).getByTestId('badge');
    assert(await badge.innerText() === 'owner', `alice's badge reads ${await badge.innerText()}`);
    await alice.page.getByRole('button', { name: 'Room settings' }).waitFor();
    assert(await bob.page.getByRole('button', { name: 'Room settings' }).count() === 0, 'bob is offered the settings');
  }, alice.page);

  await step('the owner removes the member\'s message from its menu: both see "removed by a moderator"', async () => {
    await bob.say('buy cheap watches at spam.example');
    await alice.sees('buy cheap watches');
    assert(await bob.row('buy cheap watches').getByTestId('mod-button').count() === 0, 'bob is offered moderation');
    await alice.openModMenu('buy cheap watches');
    const menu = alice.page.getByTestId('mod-menu');
    const items = await menu.getByRole('button').allInnerTexts();
    assert(JSON.stringify(items) === JSON.stringify(['Remove message', 'Mute author for 10 min',
      'Mute author for 1 hour', 'Mute author for 1 day', 'Ban author…']), `the menu offers ${items}`);
    assert(await alice.page.evaluate(() => document.activeElement?.dataset.testid) === 'mod-remove', 'focus in the menu');
    await alice.shot(1280, 'light', 'mod-menu');
    await alice.shot(1280, 'dark', 'mod-menu');
    // The same menu on a phone.
    await alice.page.setViewportSize({ width: 375, height: 700 });
    await alice.row('buy cheap watches').hover();
    await alice.shot(375, 'dark', 'mod-menu');
    await alice.shot(375, 'light', 'mod-menu');
    await alice.page.setViewportSize({ width: 1280, height: 800 });
    await menu.getByRole('button', { name: 'Remove message' }).click();
    await menu.getByText('Remove this message for everyone?').waitFor();
    await menu.getByRole('button', { name: 'Remove', exact: true }).click();
    await menu.waitFor({ state: 'detached', timeout: 5_000 });
    for (const who of [bob, alice]) {
      const tomb = who.page.getByTestId('tombstone').filter({ hasText: 'removed by a moderator' });
      await tomb.waitFor({ timeout: 10_000 });
      assert(await who.page.getByText('buy cheap watches').count() === 0, `${who.name} still sees the text`);
    }
    assert(await bob.page.getByTestId('tombstone').innerText() === 'removed by a moderator', 'bob\'s tombstone text');
  }, bob.page);

  await step('the owner mutes the member for 10 min from a message menu: the member is told, and cannot send', async () => {
    await bob.say('you cannot remove me');
    await alice.sees('you cannot remove me');
    await alice.openModMenu('you cannot remove me');
    await alice.page.getByTestId('mod-menu').getByRole('button', { name: 'Mute author for 10 min' }).click();
    const banner = bob.page.getByTestId('muted');
    await banner.waitFor({ timeout: 10_000 });
    const said = await seenText(banner);
    assert(/^A moderator muted you · you can write again in (10|9) min$/.test(said), `the banner reads ${JSON.stringify(said)}`);
    assert((await banner.locator('.visually-hidden').textContent()).startsWith(' until '), 'screen readers are not told until when');
    assert(await bob.composer().isDisabled(), 'the message box is enabled');
    assert(await bob.page.getByTestId('send').isDisabled(), 'Send is enabled');
    // Trying anyway: a click (forced past the disabled box), typing, Enter, then Send.
    await bob.composer().click({ force: true });
    await bob.page.keyboard.type('let me talk', { delay: 5 });
    await bob.page.keyboard.press('Enter');
    await bob.page.getByTestId('send').click({ force: true });
    await sleep(500);
    assert(await bob.composer().inputValue() === '', `the disabled box took ${JSON.stringify(await bob.composer().inputValue())}`);
    assert(await bob.page.getByTestId('pending').count() === 0, 'a post was queued');
    assert(await alice.page.getByText('let me talk').count() === 0, 'alice got it');
    await bob.shot(375, 'dark', 'muted');
    await bob.shot(375, 'light', 'muted');
    await bob.page.emulateMedia({ colorScheme: 'dark' });
  }, bob.page);

  await step('the owner lifts the mute from the member list: the member can write again', async () => {
    const list = await alice.memberList();
    const row = list.getByTestId('member').filter({ hasText: 'bob' });
    await row.getByRole('button', { name: 'Moderate bob' }).click();
    await row.getByRole('button', { name: 'Lift mute' }).click();
    await bob.page.getByTestId('muted').waitFor({ state: 'detached', timeout: 10_000 });
    assert(await bob.composer().isEnabled(), 'the message box is still disabled');
    await bob.say('thank you');
    await alice.sees('thank you');
  }, bob.page);

  await step('the owner sets the topic and 5 s slow mode in the settings panel: the member sees both', async () => {
    await alice.openSettings();
    const panel = alice.page.getByTestId('settings');
    await panel.getByLabel('Topic').fill('Be kind. One message per 5 s.');
    await panel.getByRole('button', { name: 'Save' }).click();
    await panel.getByLabel('Slow mode').selectOption({ label: 'One message per 5 s' });
    const topic = bob.page.getByTestId('topic');
    await topic.filter({ hasText: 'Be kind. One message per 5 s.' }).waitFor({ timeout: 10_000 });
    assert(await topic.isVisible(), 'the topic is hidden on a phone');
    // The owner's choices, and the earlier removal and mutes, are in the audit trail.
    const audit = panel.getByTestId('audit-entry');
    await audit.filter({ hasText: 'alice set slow mode to one message per 5 s' }).waitFor({ timeout: 10_000 });
    await audit.filter({ hasText: 'alice set the topic to “Be kind. One message per 5 s.”' }).waitFor();
    assert(await audit.count() >= 5, `the trail has ${await audit.allInnerTexts()}`);
    // Bob's last post ("thank you") was before slow mode was set, so it does not count: his
    // first post under slow mode goes at once, and its acknowledgement starts the countdown.
    await bob.say('first under slow mode');
    await alice.sees('first under slow mode');
    const wait = bob.page.getByTestId('slow-wait');
    await wait.waitFor({ timeout: 10_000 });
    const said = await seenText(wait);
    assert(/^Slow mode is on · you can send again in [1-6] s$/.test(said), `the wait reads ${JSON.stringify(said)}`);
    assert(await bob.page.getByTestId('pending').count() === 0, 'the first post under slow mode was held');
    // Another post while it runs: Enter does nothing, the text stays in the box.
    await bob.say('second, too soon');
    await sleep(300);
    assert(await bob.composer().inputValue() === 'second, too soon', 'the text did not stay in the box');
    assert(await bob.page.getByTestId('pending').filter({ hasText: 'second, too soon' }).count() === 0, 'it was queued');
    // Once the wait is over, Enter sends.
    await wait.waitFor({ state: 'detached', timeout: 8_000 });
    await bob.composer().press('Enter');
    await alice.sees('second, too soon');
    assert(await bob.composer().inputValue() === '', 'the box was not cleared');
    const order = (await alice.page.getByTestId('message').locator('.text').allInnerTexts()).slice(-2);
    assert(JSON.stringify(order) === JSON.stringify(['first under slow mode', 'second, too soon']), `alice sees ${order}`);
  }, bob.page);

  await step('the owner makes a bot in the settings panel; its token is shown once', async () => {
    const panel = alice.page.getByTestId('settings');
    await panel.getByPlaceholder('New bot\'s name').fill('oracle');
    await panel.getByRole('button', { name: 'Create bot' }).click();
    const shown = panel.getByTestId('new-bot');
    await shown.waitFor({ timeout: 10_000 });
    token = await shown.getByLabel('Bot token').inputValue();
    assert(/^cb_\S+$/.test(token), `the token reads ${JSON.stringify(token)}`);
    const curl = await shown.getByTestId('bot-curl').innerText();
    assert(curl.includes(`/api/rooms/${room}/messages`) && curl.includes(`Bearer ${token}`), `the example reads ${curl}`);
    await panel.getByTestId('bot').filter({ hasText: 'oracle' }).waitFor();
    await alice.shot(1280, 'light', 'settings');
    await alice.shot(1280, 'dark', 'settings');
    await alice.page.setViewportSize({ width: 375, height: 700 });
    await alice.shot(375, 'light', 'settings');
    await alice.page.setViewportSize({ width: 1280, height: 800 });
    await alice.page.emulateMedia({ colorScheme: 'light' });
    await panel.getByRole('button', { name: 'Done, I have copied it' }).click();
    await shown.waitFor({ state: 'detached' });
    assert(await panel.getByText(token).count() === 0, 'the token is still shown');
    // Focus stayed in the panel when the Done button went: Escape still closes it.
    await alice.page.keyboard.press('Escape');
    await panel.waitFor({ state: 'detached', timeout: 5_000 });
    assert(await alice.page.evaluate(() => document.activeElement?.dataset.testid) === 'open-settings', 'focus is not back on its button');
  }, alice.page);

  await step('the bot\'s streamed answer grows in the member\'s page, marked "writing…" until finished', async () => {
    const chunks = [' about', ' the weather:', ' sunny', ' in the', ' afternoon,', ' rain', ' by night.'];
    const { seq: id } = await botApi('', { text: 'Thinking', streaming: true });
    const row = bob.page.locator(`#m${id}`);
    await row.waitFor({ timeout: 10_000 });
    const samples = [];
    const sample = async (want) => {
      samples.push({
        want,
        text: await ownText(row),
        writing: (await row.getByTestId('streaming').textContent()).trim(),
        marker: await row.getByTestId('streaming').isVisible(),
        busy: await row.getAttribute('aria-busy'),
      });
    };
    let sent = 'Thinking';
    await sample(sent);
    for (const [i, chunk] of chunks.entries()) {
      await sleep(300);
      await botApi(`/${id}/append`, { text: chunk });
      sent += chunk;
      if (i === 1 || i === 4) {
        // Sampled as it shows, before the answer is finished.
        await bob.page.waitForFunction(([sel, want]) => {
          const p = document.querySelector(`${sel} .text`);
          return p && p.textContent.includes(want);
        }, [`#m${id}`, sent], { timeout: 5_000 });
        await sample(sent);
      }
      if (i === 4) {
        // Screenshots of the answer being written, on the phone and on the desktop.
        await alice.row('Thinking').waitFor();
        await bob.shot(375, 'dark', 'streaming');
        await bob.shot(375, 'light', 'streaming');
        await alice.shot(1280, 'light', 'streaming');
        await alice.shot(1280, 'dark', 'streaming');
        await bob.page.emulateMedia({ colorScheme: 'dark' });
        await alice.page.emulateMedia({ colorScheme: 'light' });
      }
    }
    console.log(`    samples: ${samples.map((s) => JSON.stringify(s.text)).join(' → ')}`);
    for (const [i, s] of samples.entries()) {
      assert(s.text === s.want, `sample ${i} reads ${JSON.stringify(s.text)}, not ${JSON.stringify(s.want)}`);
      assert(s.marker && s.writing === 'writing…' && s.busy === 'true', `sample ${i} is not marked in progress: ${JSON.stringify(s)}`);
      if (i > 0) assert(s.text.length > samples[i - 1].text.length, `sample ${i} did not grow: ${JSON.stringify(samples)}`);
    }
    assert(samples.at(-1).text !== sent, 'the last sample was the whole answer already');
    await sleep(300);
    await botApi(`/${id}/finish`, {});
    await row.getByTestId('streaming').waitFor({ state: 'detached', timeout: 10_000 });
    assert(await ownText(row) === sent, `the finished answer reads ${JSON.stringify(await ownText(row))}`);
    assert(await row.locator('.text').innerText() === sent, 'something is left after the text');
    assert(await row.getAttribute('aria-busy') === null, 'still aria-busy');
    assert(await row.getByTestId('bot-badge').innerText() === 'bot', 'no bot badge');
    assert(await row.locator('.author').innerText() === 'oracle', 'not by oracle');
    // The owner's page agrees.
    const hers = alice.page.locator(`#m${id}`);
    await hers.getByTestId('streaming').waitFor({ state: 'detached', timeout: 10_000 });
    assert(await ownText(hers) === sent, `alice reads ${JSON.stringify(await ownText(hers))}`);
  }, bob.page);

  await step('no dialog, CSP violation or page error anywhere in the run', async () => {
    assert(trouble.length === 0, trouble.join('\n'));
  });
} catch (e) {
  // A step prints its own failure; anything else (a context that would not open, say) says so here.
  if (!e?.reported) console.log(`FAILED: ${String(e?.stack || e)}`);
  exitCode = 1;
} finally {
  await browser.close().catch(() => {});
  server.stop();
}
if (failures.length) console.log(`${failures.length} step(s) failed: ${failures.join('; ')}`);
process.exit(failures.length ? 1 : exitCode);
