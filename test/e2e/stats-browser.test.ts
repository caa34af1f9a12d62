// The stats page in a REAL browser: Debian's headless chromium driven by playwright-core (no
// browser download: /usr/bin/chromium, a fresh profile directory per launch), against a REAL
// in-process warren proxy whose backends are real TCP servers, one of them a separate process
// that the test kills by PID.
//
//   - kill a backend: its row turns the DOWN colour through the page's own auto-refresh;
//   - tick a server, choose "Set state to DRAIN", Apply: new connections skip that server;
//   - a phone viewport: the server states are readable without horizontal scrolling.
//
// Screenshots: /tmp/warren-stats.png, /tmp/warren-stats-phone.png and test-results/stats*.png.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { connect, readAll, startProxy, tcpServer, type RunningProxy } from '../harness/proxy.js';
import type { StatsHttpHandle } from '../../src/proxy/stats/http-server.js';

const HOST = '127.0.0.1';
const CHROMIUM = '/usr/bin/chromium';
const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');
const RESULTS = path.join(REPO, 'test-results');
const SHOTS = {
  desktop: ['/tmp/warren-stats.png', path.join(RESULTS, 'stats.png')],
  phone: ['/tmp/warren-stats-phone.png', path.join(RESULTS, 'stats-phone.png')],
};
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const USER = 'admin';
const PASS = 'pw-e2e';
const REFRESH_S = 1;
const INTER_MS = 200;
const FALL = 2;

type TcpBackend = Awaited<ReturnType<typeof tcpServer>>;
let s1: TcpBackend;
let s2: TcpBackend;
let s3proc: ChildProcess;
let s3port: number;
let running: RunningProxy;
let stats: StatsHttpHandle;
let base: string;
const profiles: string[] = [];
const contexts: BrowserContext[] = [];

/** A backend in its own process (so it can really be killed): says `name` to each client. */
async function processBackend(name: string): Promise<{ proc: ChildProcess; port: number }> {
  const code = `const s=require('net').createServer(c=>{c.on('error',()=>{});c.end(${JSON.stringify(name + '\n')})});s.listen(0,'127.0.0.1',()=>console.log(s.address().port));`;
  const proc = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    proc.once('error', reject);
    proc.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
  });
  return { proc, port };
}

async function launch(options: Parameters<typeof chromium.launchPersistentContext>[1]): Promise<Page> {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} missing: install Debian's chromium (test/harness/deps.sh)`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'warren-chromium-'));
  profiles.push(profile);
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    httpCredentials: { username: USER, password: PASS },
    ...options,
  });
  contexts.push(ctx);
  return ctx.pages()[0] ?? (await ctx.newPage());
}

async function shoot(page: Page, files: string[]): Promise<void> {
  fs.mkdirSync(RESULTS, { recursive: true });
  const png = await page.screenshot({ fullPage: true });
  for (const f of files) fs.writeFileSync(f, png);
}

/** Runs a browser-side expression (a string: this file is compiled without the DOM typings). */
function inPage<T>(page: Page, expression: string): Promise<T> {
  return page.evaluate(expression) as Promise<T>;
}

function background(page: Page, selector: string): Promise<string> {
  return inPage(page, `getComputedStyle(document.querySelector(${JSON.stringify(selector)})).backgroundColor`);
}

async function servedBy(n: number): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < n; i++) names.push((await readAll(await connect(running.port('app')))).toString().trim());
  return names;
}

before(async () => {
  s1 = await tcpServer((s) => s.end('s1\n'));
  s2 = await tcpServer((s) => s.end('s2\n'));
  const b3 = await processBackend('s3');
  s3proc = b3.proc;
  s3port = b3.port;
  const check = `check inter ${INTER_MS}ms fall ${FALL} rise 2`;
  running = await startProxy(`
global: {maxconn: 100}
defaults:
  mode: tcp
  timeout: {connect: 1s, client: 30s, server: 30s, queue: 2s}
listen:
  app:
    bind: ${HOST}:0
    balance: roundrobin
    server:
      - s1 ${HOST}:${s1.port} ${check}
      - s2 ${HOST}:${s2.port} ${check}
      - s3 ${HOST}:${s3port} ${check}
      - spare ${HOST}:${s2.port} ${check} backup
  monitor:
    mode: http
    bind: ${HOST}:0
    stats: {enable: true, uri: /stats, refresh: ${REFRESH_S}s, auth: ["${USER}:${PASS}"], admin: true}
    monitor-uri: /healthz
`);
  // The stats listener the proxy itself started for the `monitor` section.
  stats = running.proxy.statsServers[0]!;
  assert.ok(stats, 'the proxy serves its stats section');
  base = `http://${HOST}:${stats.addresses()[0]!.port}`;
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  for (const p of profiles) fs.rmSync(p, { recursive: true, force: true });
  await running?.stop();
  await s1?.close();
  await s2?.close();
  if (s3proc && s3proc.exitCode === null && s3proc.signalCode === null && s3proc.pid) process.kill(s3proc.pid, 'SIGKILL');
});

test('desktop: a killed backend turns DOWN through the auto-refresh; Apply drain steers new connections away', async () => {
  const page = await launch({ viewport: { width: 1400, height: 900 } });
  await page.goto(`${base}/stats`);
  // Every server UP (the page refreshes itself every second).
  for (const sv of ['s1', 's2', 's3']) await page.waitForSelector(`tr.active_up[data-server="${sv}"]`, { timeout: 10_000 });
  await page.waitForSelector('tr.backup_up[data-server="spare"]', { timeout: 10_000 });
  await page.waitForSelector('#host dl', { timeout: 5000 }); // the first host sample, via the auto-refresh
  assert.match(await page.locator('#host').innerText(), /CPU\s+[\d.]+% of \d+ cores/);
  assert.match(await page.locator('#vrrp').innerText(), /VRRP status: not configured/);

  // Kill s3's process. Without reloading by hand, the row must show DOWN within the check
  // detection time (fall × inter, plus a check in flight) and one refresh period.
  const killedAt = Date.now();
  process.kill(s3proc.pid!, 'SIGKILL');
  await page.waitForSelector('tr.active_down[data-server="s3"]', { timeout: FALL * INTER_MS + INTER_MS + REFRESH_S * 1000 + 1500 });
  const seenAfter = Date.now() - killedAt;
  assert.match((await page.textContent('tr[data-server="s3"] td.status')) ?? '', /DOWN/);
  assert.match((await page.textContent('tr[data-server="s3"]')) ?? '', /L4CON/);
  assert.equal(await background(page, 'tr[data-server="s3"]'), 'rgb(255, 144, 144)', 'HAProxy DOWN red (#ff9090)');
  console.log(`# s3 shown DOWN ${seenAfter} ms after the kill (refresh ${REFRESH_S}s, inter ${INTER_MS}ms, fall ${FALL})`);

  // Admin: the no-refresh view (so the page does not reload under the pointer), tick s1, DRAIN, Apply.
  assert.deepEqual([...new Set(await servedBy(6))].sort(), ['s1', 's2']);
  await page.goto(`${base}/stats;norefresh`);
  const form = page.locator('section#px-app form');
  await form.locator('input[name="s"][value="s1"]').check();
  await form.locator('select[name="action"]').selectOption('drain');
  await Promise.all([page.waitForURL(/;st=DONE/), form.locator('button[type="submit"]').click()]);
  assert.equal(new URL(page.url()).pathname, '/stats;st=DONE;norefresh');
  assert.match((await page.textContent('.msg')) ?? '', /Action processed successfully\./);
  await page.waitForSelector('tr.active_draining[data-server="s1"]');
  assert.equal(await background(page, 'tr[data-server="s1"]'), 'rgb(32, 160, 255)', 'HAProxy DRAIN blue (#20a0ff)');
  const after = await servedBy(8);
  assert.ok(!after.includes('s1'), `new connections skip the drained s1: ${after}`);
  assert.deepEqual([...new Set(after)], ['s2']);
  await shoot(page, SHOTS.desktop);
});

test('phone: 390×844, server states readable without sideways scrolling; wide table scrolls in its box', async () => {
  const page = await launch({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  await page.goto(`${base}/stats;norefresh`);
  await page.waitForSelector('tr[data-server="s1"]');
  const layout = await inPage<{ docWidth: number; viewport: number; compactVisible: boolean; compactText: string; tableScrolls: boolean; proxiesFirst: boolean }>(
    page,
    `(() => {
      const compact = document.querySelector('#px-app .compact');
      const box = document.querySelector('#px-app .scroll');
      return {
        docWidth: document.documentElement.scrollWidth,
        viewport: window.innerWidth,
        compactVisible: getComputedStyle(compact).display !== 'none',
        compactText: compact.innerText,
        tableScrolls: box.scrollWidth > box.clientWidth,
        proxiesFirst: document.querySelector('.proxies').getBoundingClientRect().top < document.querySelector('.panels').getBoundingClientRect().top,
      };
    })()`,
  );
  assert.ok(layout.docWidth <= layout.viewport + 1, `page wider than the phone: ${layout.docWidth} > ${layout.viewport}`);
  assert.ok(layout.compactVisible, 'the compact server list shows on a phone');
  assert.match(layout.compactText, /s3\s+DOWN/);
  assert.match(layout.compactText, /s1\s+DRAIN/);
  assert.ok(layout.tableScrolls, 'the full table scrolls inside its box');
  assert.ok(layout.proxiesFirst, 'server states come before the panels on a phone');
  await shoot(page, SHOTS.phone);
});
