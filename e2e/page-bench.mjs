// The page benchmark: in headless Chromium, time from navigation to a room with 50 messages
// rendered (median of 7 loads, the page's own clock, cache cold each time).
import { startServer, launchBrowser, seed } from './lib.mjs';

const server = await startServer();
const browser = await launchBrowser();
let code = 0;
try {
  const room = `page-bench-${Date.now()}`;
  await seed(server.url, room, 60);
  const times = [];
  for (let i = 0; i < 7; i++) {
    const ctx = await browser.newContext(); // fresh cache and storage each load
    const page = await ctx.newPage();
    await page.goto(server.url);
    await page.evaluate((i) => localStorage.setItem('confab.name', JSON.stringify(`bench${i}`)), i);
    await page.goto(`${server.url}/r/${room}`);
    const ms = await page.waitForFunction(
      () => document.querySelectorAll('[data-testid=message]').length >= 50 && performance.now(), null, { timeout: 15_000 })
      .catch(async (e) => { await page.screenshot({ path: 'target/e2e/page-bench-failed.png' }); throw e; });
    times.push(Math.round(await ms.jsonValue()));
    await ctx.close();
  }
  times.sort((a, b) => a - b);
  console.log(`page: navigation to 50 messages rendered: p50 ${times[3]} ms, max ${times[6]} ms (runs ${times.join(', ')})`);
  console.log(`json: ${JSON.stringify({ scenario: 'page', p50_ms: times[3], max_ms: times[6], runs_ms: times })}`);
} catch (e) {
  console.error(e);
  code = 1;
} finally {
  await browser.close().catch(() => {});
  server.stop();
}
process.exit(code);
