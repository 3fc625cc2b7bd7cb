// End to end in headless Chromium against a real `wrangler dev`: two people in two browser
// contexts join a room by clicking and typing, chat both ways, see each other typing and in
// the member list, and a reload keeps the name and the history. Screenshots go to
// target/e2e/. Run: `node e2e/chat.mjs` (scripts/test.sh does, after building).
import { join } from 'node:path';
import { startServer, startProxy, launchBrowser, seed, step, assert, outDir } from './lib.mjs';
import { writeFileSync } from 'node:fs';

/** One person at one browser: the page object the steps talk to. */
class Person {
  constructor(page, name) { this.page = page; this.name = name; }
  messages() { return this.page.getByTestId('message'); }
  async open(url) { await this.page.goto(url); }
  async join(room) {
    const p = this.page;
    await p.getByLabel('Your name').fill(this.name);
    await p.getByLabel('Room').fill(room);
    await p.getByRole('button', { name: 'Join room' }).click();
    await this.online();
  }
  async online() {
    await this.page.getByTestId('link-state').filter({ hasText: 'Online' }).waitFor({ timeout: 15_000 });
  }
  async say(text) {
    const box = this.page.getByLabel('Message', { exact: true });
    await box.click();
    await box.pressSequentially(text, { delay: 5 });
    await box.press('Enter');
  }
  async sees(text) {
    await this.page.getByTestId('message').filter({ hasText: text }).first().waitFor({ timeout: 10_000 });
  }
}

const server = await startServer();
const proxy = await startProxy(new URL(server.url).port);
const browser = await launchBrowser();
let exitCode = 0;
try {
  const room = `e2e-${Date.now()}`;
  const ctxA = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
  const ctxB = await browser.newContext({ viewport: { width: 375, height: 700 }, colorScheme: 'dark' });
  const alice = new Person(await ctxA.newPage(), 'alice');
  const bob = new Person(await ctxB.newPage(), 'bob');
  const dialogs = [];
  const cspViolations = [];
  for (const p of [alice.page, bob.page]) {
    p.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
    p.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
  }

  await step('both join the room from the start page', async () => {
    await alice.open(server.url);
    await alice.join(room);
    // Bob's network runs through a proxy the test can cut.
    await bob.open(proxy.url);
    await bob.join(room);
    assert(new URL(alice.page.url()).pathname === `/r/${room}`, `alice is at ${alice.page.url()}`);
    assert(cspViolations.length === 0, `CSP violations: ${cspViolations}`);
  }, alice.page);

  await step('each sees the other in the member list', async () => {
    await alice.page.getByTestId('members').getByText('bob').waitFor({ timeout: 10_000 });
    await alice.page.getByTestId('member-count').filter({ hasText: '2 members online' }).waitFor();
    await bob.page.getByRole('button', { name: 'Members' }).click();
    await bob.page.getByTestId('members').getByText('alice').waitFor({ timeout: 10_000 });
    await bob.page.getByRole('button', { name: 'Members' }).click();
  }, alice.page);

  await step('typing is shown to the other, then cleared by the message', async () => {
    const box = bob.page.getByLabel('Message', { exact: true });
    await box.click();
    await box.pressSequentially('hi alice', { delay: 20 });
    await alice.page.getByTestId('typing').filter({ hasText: 'bob is typing…' }).waitFor({ timeout: 10_000 });
    await box.press('Enter');
    await alice.sees('hi alice');
    await alice.page.getByTestId('typing').filter({ hasText: /^$/ }).waitFor({ timeout: 10_000 });
  }, alice.page);

  await step('they chat both ways, in order', async () => {
    await alice.say('hello bob');
    await bob.sees('hello bob');
    await bob.say('how are you?');
    await alice.sees('how are you?');
    const texts = await alice.messages().locator('.text').allInnerTexts();
    assert(JSON.stringify(texts) === JSON.stringify(['hi alice', 'hello bob', 'how are you?']), `alice sees ${texts}`);
  }, alice.page);

  await step('Shift+Enter adds a line, Enter sends both lines as one message', async () => {
    const box = alice.page.getByLabel('Message', { exact: true });
    await box.click();
    await box.pressSequentially('line one');
    await box.press('Shift+Enter');
    await box.pressSequentially('line two');
    await box.press('Enter');
    await bob.sees('line two');
    const last = await bob.messages().last().locator('.text').innerText();
    assert(last === 'line one\nline two', `bob got ${JSON.stringify(last)}`);
  }, bob.page);

  await step('markup arrives as text and creates no element', async () => {
    const evil = '<img src=x onerror=alert(1)>';
    await bob.say(evil);
    await alice.sees(evil);
    const imgs = await alice.page.locator('[data-testid=messages] img').count();
    assert(imgs === 0 && dialogs.length === 0, `${imgs} img elements, dialogs ${dialogs}`);
  }, alice.page);

  await step('links are clickable and open safely', async () => {
    await alice.say('see https://example.com/docs for more');
    await bob.sees('see https://example.com/docs');
    const a = bob.page.locator('[data-testid=messages] a[href="https://example.com/docs"]');
    assert((await a.getAttribute('rel'))?.includes('noopener'), 'link without rel=noopener');
  }, bob.page);

  await step('screenshots at 1280 px and 375 px, light and dark', async () => {
    await alice.page.screenshot({ path: join(outDir, 'room-1280-light.png') });
    await bob.page.screenshot({ path: join(outDir, 'room-375-dark.png') });
    await alice.page.emulateMedia({ colorScheme: 'dark' });
    await bob.page.emulateMedia({ colorScheme: 'light' });
    await alice.page.screenshot({ path: join(outDir, 'room-1280-dark.png') });
    await bob.page.screenshot({ path: join(outDir, 'room-375-light.png') });
    await alice.page.emulateMedia({ colorScheme: 'light' });
    await bob.page.emulateMedia({ colorScheme: 'dark' });
  });

  await step('bob goes offline, sends 5, comes back: all 5 arrive once, in order, for both', async () => {
    proxy.cut();
    await ctxB.setOffline(true);
    await bob.page.getByTestId('link-state').filter({ hasText: /Reconnecting|Connecting/ }).waitFor({ timeout: 15_000 });
    for (let i = 1; i <= 5; i++) await bob.say(`offline ${i}`);
    assert(await bob.page.getByTestId('pending').count() === 5, 'the 5 wait in the outbox');
    proxy.restore();
    await ctxB.setOffline(false); // fires `online`: the page reconnects at once
    await bob.online();
    await alice.sees('offline 5');
    await bob.page.getByTestId('pending').first().waitFor({ state: 'detached', timeout: 10_000 });
    for (const who of [alice, bob]) {
      const texts = (await who.messages().locator('.text').allInnerTexts()).filter((t) => t.startsWith('offline'));
      assert(JSON.stringify(texts) === JSON.stringify([1, 2, 3, 4, 5].map((i) => `offline ${i}`)), `${who.name} sees ${texts}`);
    }
  }, bob.page);

  await step('an unsent message survives a page reload and is delivered once', async () => {
    proxy.cutSockets();
    await bob.page.getByTestId('link-state').filter({ hasText: /Reconnecting|Connecting/ }).waitFor({ timeout: 15_000 });
    await bob.say('kept across a reload');
    await bob.page.reload(); // the page loads; its socket still cannot connect
    const pending = bob.page.getByTestId('pending').filter({ hasText: 'kept across a reload' });
    await pending.waitFor({ timeout: 10_000 });
    // After 10 s unsent, the page says so and offers to retry.
    await pending.getByText('not sent yet').waitFor({ timeout: 15_000 });
    proxy.restore();
    await pending.getByRole('button', { name: 'Retry now' }).click();
    await bob.online();
    await alice.sees('kept across a reload');
    await bob.sees('kept across a reload');
    await bob.page.getByTestId('pending').first().waitFor({ state: 'detached', timeout: 10_000 });
    const n = await alice.messages().filter({ hasText: 'kept across a reload' }).count();
    assert(n === 1, `alice sees it ${n} times`);
  }, bob.page);

  await step('scrolled up, new messages show a pill instead of moving the view', async () => {
    await alice.page.setViewportSize({ width: 1280, height: 420 });
    const list = alice.page.getByTestId('messages');
    await list.evaluate((el) => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); });
    await bob.say('are you still reading?');
    await alice.page.getByTestId('new-pill').filter({ hasText: '1 new message' }).waitFor({ timeout: 10_000 });
    assert(await list.evaluate((el) => el.scrollTop) < 50, 'the view stayed where alice was reading');
    await alice.page.getByTestId('new-pill').click();
    await alice.page.getByTestId('new-pill').waitFor({ state: 'detached', timeout: 5_000 });
    await alice.page.setViewportSize({ width: 1280, height: 800 });
  }, alice.page);

  await step('a reload keeps the name and the history', async () => {
    await alice.page.reload();
    await alice.online();
    await alice.sees('how are you?');
    const n = await alice.messages().count();
    assert(n === 13, `after reload alice sees ${n} messages`);
  }, alice.page);

  await step('leaving shows bob alice going', async () => {
    await alice.page.getByRole('button', { name: 'Leave the room' }).click();
    await alice.page.getByLabel('Your name').waitFor();
    assert(await alice.page.getByLabel('Your name').inputValue() === 'alice', 'the name is remembered');
    await bob.page.getByTestId('member-count').filter({ hasText: '1 member online' }).waitFor({ timeout: 10_000 });
  }, bob.page);

  await step('coming back, a "New" divider marks what arrived while away', async () => {
    await bob.say('while you were away');
    await alice.page.getByRole('button', { name: room }).click(); // from "Recent rooms"
    await alice.online();
    await alice.sees('while you were away');
    const next = alice.page.getByTestId('unread-divider').locator('xpath=following-sibling::*[1]');
    assert((await next.innerText()).includes('while you were away'), 'the divider is right before the new message');
  }, alice.page);

  await step('a private room gets an unguessable link', async () => {
    await alice.page.getByRole('button', { name: 'Leave the room' }).click();
    await alice.page.getByRole('button', { name: 'Create private room' }).click();
    await alice.online();
    const path = new URL(alice.page.url()).pathname;
    assert(/^\/r\/[0-9a-f]{64}$/.test(path), `private room at ${path}`);
    const link = await alice.page.getByTestId('share-link').inputValue();
    assert(link === alice.page.url(), `share link ${link} for ${alice.page.url()}`);
  }, alice.page);

  const big = `history-${Date.now()}`;
  await step('a room with 120 messages opens on the last 50 (timed), scrolling up pages back in place', async () => {
    await seed(server.url, big, 120);
    // Navigation start to 50 messages on screen, measured by the page's own clock.
    const timings = [];
    for (let i = 0; i < 3; i++) {
      await alice.page.goto(`${server.url}/r/${big}`);
      const ms = await alice.page.waitForFunction(
        () => document.querySelectorAll('[data-testid=message]').length >= 50 && performance.now(), null, { timeout: 15_000 });
      timings.push(Math.round(await ms.jsonValue()));
    }
    timings.sort((a, b) => a - b);
    writeFileSync(join(outDir, 'render-50.json'), JSON.stringify({ runs_ms: timings, median_ms: timings[1] }));
    console.log(`    navigation to 50 messages rendered: median ${timings[1]} ms (runs ${timings.join(', ')})`);
    assert(await alice.messages().count() === 50, 'the welcome has the last 50');

    const list = alice.page.getByTestId('messages');
    const anchor = alice.page.locator('[data-testid=message] .text', { hasText: /^seeded message 71$/ });
    const before = await anchor.evaluate((el) => el.getBoundingClientRect().top);
    await list.evaluate((el) => { el.scrollTop = 0; });
    await alice.page.waitForFunction(() => document.querySelectorAll('[data-testid=message]').length === 100, null, { timeout: 10_000 });
    await alice.page.waitForTimeout(100); // the anchor is restored on the next frame
    const after = await anchor.evaluate((el) => el.getBoundingClientRect().top);
    const height = await list.evaluate((el) => el.clientHeight);
    assert(after > 0 && after < height, `the message at the top before paging stays on screen (${before} → ${after} px)`);
    await list.evaluate((el) => { el.scrollTop = 0; });
    await alice.page.waitForFunction(() => document.querySelectorAll('[data-testid=message]').length === 120, null, { timeout: 10_000 });
    await alice.page.getByText('This is the start of the room.').waitFor();
    const texts = await alice.messages().locator('.text').allInnerTexts();
    assert(texts.every((t, i) => t === `seeded message ${i + 1}`), 'all 120, in order, once');
  }, alice.page);
} catch {
  exitCode = 1;
} finally {
  await browser.close().catch(() => {});
  proxy.close();
  server.stop();
}
process.exit(exitCode);
